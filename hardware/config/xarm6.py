"""UFACTORY xArm6 through xarm_ros2.

Sources:
  * Limits: xarm_ros2 ``xarm_description/config/xarm6/joint_limits.yaml`` (the
    ``joint_limits`` section ros2_control and MoveIt read): 2.14 rad/s on every joint. That
    file publishes no acceleration limit (``has_acceleration_limits: false``); the value
    here, pi rad/s^2, is a conservative choice of ours, not the vendor's.
  * Controller: xarm_ros2 ``xarm_controller/config/xarm6_controllers.yaml``:
    ``xarm6_traj_controller``, a ``joint_trajectory_controller/JointTrajectoryController``.

  * Kinematics: ``sim.robot.xarm6`` (xarm_ros2's URDF joint origins, checked against
    UFACTORY's modified-DH table); TCP at the flange (``link_eef``), base frame ``link_base``.
"""

import math

from hardware.config.cameras import DEFAULT_CAMERAS
from hardware.robots import JOINT_TRAJECTORY, JointLimits, RobotConfig
from sim.robot.xarm6 import ARM_JOINTS as XARM6_JOINTS  # one source: the kinematic model's

_D = math.pi / 180.0

XARM6_LIMITS = JointLimits(
    lower=(-180 * _D, -118 * _D, -180 * _D, -180 * _D, -97 * _D, -180 * _D),
    upper=(180 * _D, 120 * _D, 18 * _D, 180 * _D, 180 * _D, 180 * _D),
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
    cameras=DEFAULT_CAMERAS,
    kinematics="xarm6",
    sources=(
        "xarm_ros2 xarm_description/config/xarm6/joint_limits.yaml",
        "xarm_ros2 xarm_description/urdf/xarm6 joint origins; UFACTORY xArm6 modified DH",
        "xarm_ros2 xarm_controller/config/xarm6_controllers.yaml",
    ),
)
