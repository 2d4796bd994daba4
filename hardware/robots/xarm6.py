"""UFACTORY xArm6 through xarm_ros2.

Sources (xArm-Developer/xarm_ros2):
  * Position limits: ``xarm_description/urdf/xarm6/xarm6.urdf.xacro``, the defaults of the
    ``xarm6_urdf`` macro (the ``<limit>`` tags the driver's URDF carries unless launched
    with ``limited:=true``): joints 1, 4 and 6 +-2 pi; joint2 [-2.059, 2.0944]; joint3
    [-3.927, 0.19198] (11 deg up: a stop past it would hit the controller's); joint5
    [-1.69297, pi].
  * Velocity limits: ``xarm_moveit_config/config/xarm6/joint_limits.yaml`` (the
    ``joint_limits`` section MoveIt reads): 2.14 rad/s on every joint. That file publishes
    no acceleration limit (``has_acceleration_limits: false``); the value here, pi
    rad/s^2, is a conservative choice of ours, not the vendor's.
  * Controller: ``xarm_controller/config/xarm6_controllers.yaml``: ``xarm6_traj_controller``,
    a ``joint_trajectory_controller/JointTrajectoryController``.
  * Joint states: ``xarm_api/src/xarm_driver.cpp`` publishes each controller report on
    ``<hw_ns>/joint_states`` (``hw_ns`` defaults to ``xarm``), stamped at the report; the
    ``/joint_states`` the launch files add is ``joint_state_publisher`` re-publishing it at
    its default 10 Hz (ros/joint_state_publisher), stamped at re-publish time. The raw
    ``/xarm/joint_states`` is the default here. The report rate follows the driver's
    ``report_type``: 5 Hz for ``normal`` (the default) and ``rich``, 100 Hz for ``dev``
    (xArm-Developer/xarm_ros ``ReadMe.md``, "report_type argument"): launch the driver with
    ``report_type:=dev``, or the bridge's 20 Hz loop sees stale states and holds.

  * Kinematics: ``sim.robot.xarm6`` (xarm_ros2's URDF joint origins, checked against
    UFACTORY's modified-DH table); TCP at the flange (``link_eef``), base frame ``link_base``.
    Its joint limits (the controller's clip) are the ones here; a test checks they agree.
"""

import math

from hardware.robots.base import JOINT_TRAJECTORY, JointLimits, RobotConfig
from hardware.robots.cameras import DEFAULT_CAMERAS
from sim.robot.xarm6 import ARM_JOINTS as XARM6_JOINTS  # one source: the kinematic model's

XARM6_LIMITS = JointLimits(
    lower=(-2 * math.pi, -2.059, -3.927, -2 * math.pi, -1.69297, -2 * math.pi),
    upper=(2 * math.pi, 2.0944, 0.19198, 2 * math.pi, math.pi, 2 * math.pi),
    velocity=(2.14,) * 6,
    acceleration=(math.pi,) * 6,
)

XARM6 = RobotConfig(
    name="xarm6",
    driver="xarm_ros2",
    arm_joints=XARM6_JOINTS,
    limits=XARM6_LIMITS,
    command_topic="/xarm6_traj_controller/joint_trajectory",
    command_type=JOINT_TRAJECTORY,
    joint_state_topic="/xarm/joint_states",
    cameras=DEFAULT_CAMERAS,
    kinematics="xarm6",
    sources=(
        "xarm_ros2 xarm_description/urdf/xarm6/xarm6.urdf.xacro (position limits)",
        "xarm_ros2 xarm_moveit_config/config/xarm6/joint_limits.yaml (velocity limits)",
        "xarm_ros2 xarm_description/urdf/xarm6 joint origins; UFACTORY xArm6 modified DH",
        "xarm_ros2 xarm_controller/config/xarm6_controllers.yaml",
        "xarm_ros2 xarm_api/src/xarm_driver.cpp (<hw_ns>/joint_states)",
    ),
)
