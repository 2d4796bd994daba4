"""Universal Robots UR5e through ur_robot_driver.

Sources:
  * Limits: Universal_Robots_ROS2_Description ``config/ur5e/joint_limits.yaml`` (UR5e user
    manual v5.8): +-360 deg on every joint except the elbow, which the description limits to
    +-180 deg; 180 deg/s; and the 180 deg/s^2 the description sets for trajectory generation
    because UR publishes no acceleration limits.
  * Controllers: Universal_Robots_ROS2_Driver ``ur_robot_driver/config/ur_controllers.yaml``
    and ``ur_robot_driver/launch/ur_control.launch.py`` (``initial_joint_controller``) on
    each distribution's branch: up to Kilted the driver starts
    ``scaled_joint_trajectory_controller``; from Lyrical (and on Rolling) that controller
    is removed ("BREAKING: Remove scaled joint trajectory controller (#1769)") and the
    default is ``joint_trajectory_controller``, which scales by the speed slider itself.
    :func:`ur5e_config` picks by ROS distribution; the registered ``ur5e`` by the
    ``ROS_DISTRO`` a sourced ROS 2 sets.
  * Joint states: the driver's ``joint_state_broadcaster`` publishes ``/joint_states``
    itself at the controller rate; no re-publisher sits in between.

  * Kinematics: ``sim.robot.ur5e`` (Universal Robots' published DH parameters, in the frames
    of Universal_Robots_ROS2_Description: ``base_link`` x forward, TCP at ``tool0``). The
    bridge's TCP, workspace box and end-effector actions are in that ``base_link`` frame.
"""

import math
import os
from dataclasses import replace

from hardware.robots.base import FLOAT64_MULTI_ARRAY, JOINT_TRAJECTORY, JointLimits, RobotConfig
from hardware.robots.cameras import DEFAULT_CAMERAS
from sim.robot.ur5e import ARM_JOINTS as UR5E_JOINTS  # one source: the kinematic model's

_D = math.pi / 180.0

UR5E_LIMITS = JointLimits(
    lower=(-360 * _D, -360 * _D, -180 * _D, -360 * _D, -360 * _D, -360 * _D),
    upper=(360 * _D, 360 * _D, 180 * _D, 360 * _D, 360 * _D, 360 * _D),
    velocity=(180 * _D,) * 6,
    acceleration=(180 * _D,) * 6,
)

SCALED_JTC = "scaled_joint_trajectory_controller"
JTC = "joint_trajectory_controller"
#: The trajectory controller ur_robot_driver starts by default, per ROS 2 distribution.
UR_TRAJECTORY_CONTROLLERS = {
    "humble": SCALED_JTC,
    "iron": SCALED_JTC,
    "jazzy": SCALED_JTC,
    "kilted": SCALED_JTC,
    "lyrical": JTC,
    "rolling": JTC,
}
#: For an unset or unknown distribution: the default of every released one before Lyrical.
DEFAULT_UR_TRAJECTORY_CONTROLLER = SCALED_JTC


def ur5e_config(ros_distro: str | None = None) -> RobotConfig:
    """The UR5e on the trajectory controller ur_robot_driver starts on ``ros_distro``.

    Args:
        ros_distro: A ROS 2 distribution name (``humble``, ``jazzy``, ``kilted``,
            ``lyrical``, ``rolling``...); None or an unknown one gives
            :data:`DEFAULT_UR_TRAJECTORY_CONTROLLER`.
    """
    distro = (ros_distro or "").strip().lower()
    controller = UR_TRAJECTORY_CONTROLLERS.get(distro, DEFAULT_UR_TRAJECTORY_CONTROLLER)
    return RobotConfig(
        name="ur5e",
        driver=f"ur_robot_driver ({distro or 'distribution unset'}: {controller})",
        arm_joints=UR5E_JOINTS,
        limits=UR5E_LIMITS,
        command_topic=f"/{controller}/joint_trajectory",
        command_type=JOINT_TRAJECTORY,
        cameras=DEFAULT_CAMERAS,
        kinematics="ur5e",
        sources=(
            "Universal_Robots_ROS2_Description config/ur5e/joint_limits.yaml",
            "Universal Robots DH parameters (UR5e) and ur_description urdf/ur_macro.xacro frames",
            "Universal_Robots_ROS2_Driver ur_robot_driver/config/ur_controllers.yaml",
            "Universal_Robots_ROS2_Driver ur_robot_driver/launch/ur_control.launch.py",
        ),
    )


#: Read once, when the registry is first built: the distribution the shell has sourced.
UR5E = ur5e_config(os.environ.get("ROS_DISTRO"))

#: The same arm streamed through the driver's ``forward_position_controller``
#: (``forward_command_controller/ForwardCommandController``). That controller writes the
#: last command it received to the position interfaces on every update (ros2_controllers
#: ``forward_command_controller/src/forward_controller.cpp``): no interpolation. At the
#: bridge's 20 Hz each command is a position step, up to the safety layer's per-period
#: velocity bound, that the arm is asked to reach at once; prefer ``ur5e`` (a trajectory
#: with a ``time_from_start``) unless the steps are what you want.
UR5E_FORWARD = replace(
    UR5E,
    name="ur5e_forward_position",
    command_topic="/forward_position_controller/commands",
    command_type=FLOAT64_MULTI_ARRAY,
)
