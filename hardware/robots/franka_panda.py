"""Franka Emika Panda (FER), and its MuJoCo stand-in.

No current franka_ros2 drives a Panda: franka_ros2 needs libfranka >= 0.13.2, and the Panda
runs libfranka < 0.10 only. For an arm on franka_ros2 use ``fr3``
(:mod:`hardware.robots.franka_fr3`). This config stays as the sim's arm (the MuJoCo
stand-in below) and for the naming of franka_ros2 0.1.x, which called the arm
``panda_joint1..7`` (frankaemika/franka_ros2 humble, ``franka_bringup/config/
controllers.yaml``). Its robot was an FR3 all the same, whose limits are tighter than
these: on such a setup register ``replace(FRANKA_PANDA, name=..., limits=FR3_LIMITS)``.

Sources:
  * Limits: Franka Control Interface documentation, "Robot and interface specifications",
    joint space limits of the Panda (the same numbers are the ``soft_lower_limit`` /
    ``soft_upper_limit`` of the ``safety_controller`` tags in the URDF this repository's
    simulators load, and frankaemika/franka_description ``robots/fer/joint_limits.yaml``;
    the URDF's ``<limit>`` tags are the wider mechanical stops).
  * Controller: franka_ros2 0.1.x ``franka_bringup/config/controllers.yaml``: a
    ``joint_trajectory_controller/JointTrajectoryController`` over ``panda_joint1..7``.
  * Joint states: franka_ros2 0.1.x ``franka_bringup/launch/franka.launch.py``: the raw
    ``franka/joint_states`` of the ros2_control node (the default here), and
    ``panda_gripper/joint_states`` for the fingers, merged by ``joint_state_publisher``
    into ``/joint_states`` at 30 Hz, stamped at re-publish time.
  * Gripper: franka_ros2 drives the hand through franka_gripper's actions (``move``,
    ``grasp``), not a topic; the bridge therefore sends no gripper command on the real arm.
"""

from dataclasses import replace

from hardware.robots.base import JOINT_TRAJECTORY, GripperConfig, JointLimits, RobotConfig
from hardware.robots.cameras import DEFAULT_CAMERAS

PANDA_LIMITS = JointLimits(
    lower=(-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973),
    upper=(2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973),
    velocity=(2.1750, 2.1750, 2.1750, 2.1750, 2.6100, 2.6100, 2.6100),
    acceleration=(15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0),
)

PANDA_GRIPPER = GripperConfig(
    joints=("panda_finger_joint1", "panda_finger_joint2"),
    open_position=0.04,
    state_topic="/panda_gripper/joint_states",
)

FRANKA_PANDA = RobotConfig(
    name="franka_panda",
    driver="franka_ros2 0.1.x",
    arm_joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
    limits=PANDA_LIMITS,
    command_topic="/joint_trajectory_controller/joint_trajectory",
    command_type=JOINT_TRAJECTORY,
    joint_state_topic="/franka/joint_states",
    gripper=PANDA_GRIPPER,
    cameras=DEFAULT_CAMERAS,
    kinematics="panda",
    sources=(
        "Franka Control Interface docs: robot and interface specifications (joint limits)",
        "franka_ros2 0.1.x franka_bringup/config/controllers.yaml (joint_trajectory_controller)",
        "franka_ros2 0.1.x franka_bringup/launch/franka.launch.py (franka/joint_states)",
    ),
)

#: The MuJoCo stand-in (``hardware.standin.sim_robot``): the same arm and controller, plus a forward
#: position controller for the fingers as ros2_control simulation setups use, and every
#: joint on ``/joint_states`` as ``joint_state_broadcaster`` publishes it.
PANDA_MUJOCO = replace(
    FRANKA_PANDA,
    name="panda_mujoco",
    driver="robopref sim-robot (MuJoCo)",
    joint_state_topic="/joint_states",
    gripper=replace(PANDA_GRIPPER, command_topic="/gripper_controller/commands", state_topic=None),
)
