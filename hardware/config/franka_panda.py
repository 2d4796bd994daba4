"""Franka Emika Panda through franka_ros2, and its MuJoCo stand-in.

Sources:
  * Limits: Franka Control Interface documentation, "Robot and interface specifications",
    joint space limits of the Panda (the same numbers are the ``soft_lower_limit`` /
    ``soft_upper_limit`` of the ``safety_controller`` tags in the URDF this repository's
    simulators load; the URDF's ``<limit>`` tags are the wider mechanical stops).
  * Controller: franka_ros2 ``franka_bringup/config/controllers.yaml``: a
    ``joint_trajectory_controller/JointTrajectoryController`` over ``panda_joint1..7``.
  * Gripper: franka_ros2 drives the hand through franka_gripper's actions (``move``,
    ``grasp``), not a topic; its joint states ``panda_finger_joint1/2`` reach
    ``/joint_states``. The bridge therefore sends no gripper command on the real Panda.
"""

from dataclasses import replace

from hardware.config.cameras import DEFAULT_CAMERAS
from hardware.robots import JOINT_TRAJECTORY, GripperConfig, JointLimits, RobotConfig

PANDA_LIMITS = JointLimits(
    lower=(-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973),
    upper=(2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973),
    velocity=(2.1750, 2.1750, 2.1750, 2.1750, 2.6100, 2.6100, 2.6100),
    acceleration=(15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0),
)

FRANKA_PANDA = RobotConfig(
    name="franka_panda",
    driver="franka_ros2",
    arm_joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
    limits=PANDA_LIMITS,
    command_topic="/joint_trajectory_controller/joint_trajectory",
    command_type=JOINT_TRAJECTORY,
    joint_state_topic="/joint_states",
    gripper=GripperConfig(
        joints=("panda_finger_joint1", "panda_finger_joint2"), open_position=0.04
    ),
    cameras=DEFAULT_CAMERAS,
    kinematics="panda",
    sources=(
        "Franka Control Interface docs: robot and interface specifications (joint limits)",
        "franka_ros2 franka_bringup/config/controllers.yaml (joint_trajectory_controller)",
    ),
)

#: The MuJoCo stand-in (``hardware.sim_robot``): the same arm and controller, plus a forward
#: position controller for the fingers as ros2_control simulation setups use.
PANDA_MUJOCO = replace(
    FRANKA_PANDA,
    name="panda_mujoco",
    driver="robopref sim-robot (MuJoCo)",
    gripper=replace(FRANKA_PANDA.gripper, command_topic="/gripper_controller/commands"),
)
