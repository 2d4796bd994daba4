"""Universal Robots UR5e through ur_robot_driver.

Sources:
  * Limits: Universal_Robots_ROS2_Description ``config/ur5e/joint_limits.yaml`` (UR5e user
    manual v5.8): +-360 deg on every joint except the elbow, which the description limits to
    +-180 deg; 180 deg/s; and the 180 deg/s^2 the description sets for trajectory generation
    because UR publishes no acceleration limits.
  * Controllers: Universal_Robots_ROS2_Driver ``ur_robot_driver/config/ur_controllers.yaml``:
    ``scaled_joint_trajectory_controller`` (the driver's default) and
    ``forward_position_controller`` (``position_controllers/JointGroupPositionController``).

  * Kinematics: ``sim.robot.ur5e`` (Universal Robots' published DH parameters, in the frames
    of Universal_Robots_ROS2_Description: ``base_link`` x forward, TCP at ``tool0``). The
    bridge's TCP, workspace box and end-effector actions are in that ``base_link`` frame.
"""

import math
from dataclasses import replace

from hardware.config.cameras import DEFAULT_CAMERAS
from hardware.robots import FLOAT64_MULTI_ARRAY, JOINT_TRAJECTORY, JointLimits, RobotConfig
from sim.robot.ur5e import ARM_JOINTS as UR5E_JOINTS  # one source: the kinematic model's

_D = math.pi / 180.0

UR5E_LIMITS = JointLimits(
    lower=(-360 * _D, -360 * _D, -180 * _D, -360 * _D, -360 * _D, -360 * _D),
    upper=(360 * _D, 360 * _D, 180 * _D, 360 * _D, 360 * _D, 360 * _D),
    velocity=(180 * _D,) * 6,
    acceleration=(180 * _D,) * 6,
)

UR5E = RobotConfig(
    name="ur5e",
    driver="ur_robot_driver",
    arm_joints=UR5E_JOINTS,
    limits=UR5E_LIMITS,
    command_topic="/scaled_joint_trajectory_controller/joint_trajectory",
    command_type=JOINT_TRAJECTORY,
    cameras=DEFAULT_CAMERAS,
    kinematics="ur5e",
    sources=(
        "Universal_Robots_ROS2_Description config/ur5e/joint_limits.yaml",
        "Universal Robots DH parameters (UR5e) and ur_description urdf/ur_macro.xacro frames",
        "Universal_Robots_ROS2_Driver ur_robot_driver/config/ur_controllers.yaml",
    ),
)

#: The same arm streamed through the driver's forward position controller.
UR5E_FORWARD = replace(
    UR5E,
    name="ur5e_forward_position",
    command_topic="/forward_position_controller/commands",
    command_type=FLOAT64_MULTI_ARRAY,
)
