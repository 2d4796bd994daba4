"""Franka Research 3 (FR3) through franka_ros2: the arm current franka_ros2 drives.

franka_ros2 needs libfranka >= 0.13.2 since 0.1.11 (frankaemika/franka_ros2
``CHANGELOG.md``; >= 0.20.4 at v2.5.0, frankarobotics/franka_ros2 ``CHANGELOG.rst``), and
the Panda (FER) runs libfranka < 0.10 only (the FCI compatibility matrix), so a franka_ros2
robot is an FR3. Current franka_ros2 names its joints ``<arm_prefix>_fr3_joint1..7``
(``robot_type:=fr3``; ``arm_prefix`` is empty by default).

Sources:
  * Position and velocity limits: frankaemika/franka_description
    ``robots/fr3/joint_limits.yaml`` (written into the URDF's ``<limit>`` and
    ``safety_controller`` tags by ``robots/common/utils.xacro``). Not the Panda's: tighter
    on joints 1, 4 and 5, joint 6 is [0.5445, 4.5169] instead of [-0.0175, 3.7525], joints
    2, 3 and 7 reach a little further, and the speeds are higher (2.62 to 5.26 rad/s).
  * Acceleration limits: 10 rad/s^2 on every joint, libfranka's ``kMaxJointAcceleration``
    for the FR3 (frankarobotics/libfranka ``include/franka/rate_limiting.h``).
  * Joint names: franka_description ``robots/common/franka_arm.xacro`` (``prefix`` =
    ``arm_prefix + arm_id + '_'``, ``robots/fr3/fr3.urdf.xacro`` adding the ``_`` after a
    non-empty ``arm_prefix``); fingers ``end_effectors/common/franka_hand.xacro``.
  * Controller: franka_ros2 ``franka_fr3_moveit_config/config/fr3_ros_controllers.yaml``:
    ``fr3_arm_controller``, a ``joint_trajectory_controller/JointTrajectoryController``
    over ``fr3_joint1..7``.
  * Joint states: franka_ros2 ``franka_bringup/launch/franka.launch.py`` remaps the
    ``ros2_control_node``'s ``joint_states`` to ``franka/joint_states`` (the raw stream of
    ``joint_state_broadcaster``, the default here) and runs ``joint_state_publisher`` to
    merge it with ``franka_gripper/joint_states`` into ``/joint_states`` at
    ``joint_state_rate`` (30 Hz), stamped at re-publish time. franka_gripper publishes the
    fingers (``fr3_finger_joint1/2``, half the width each) at its ``state_publish_rate``,
    15 Hz (``franka_gripper/config/franka_gripper_node.yaml``); the adapters join them onto
    the raw arm states. The gripper is driven through franka_gripper's actions, so the
    bridge sends it no command.
  * Kinematics: the Panda model (``sim.robot.PANDA``): franka_description's
    ``robots/fr3/kinematics.yaml`` equals ``robots/fer/kinematics.yaml``. The controller's
    clip is the Panda URDF's limits, the safety layer's these FR3 limits.
"""

from hardware.robots.base import JOINT_TRAJECTORY, GripperConfig, JointLimits, RobotConfig
from hardware.robots.cameras import DEFAULT_CAMERAS

FR3_LIMITS = JointLimits(
    lower=(-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159),
    upper=(2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159),
    velocity=(2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26),
    acceleration=(10.0,) * 7,
)

#: The Panda model's joints, which the FR3's map onto one to one.
_PANDA_MODEL_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))


def fr3_config(arm_prefix: str = "", *, name: str | None = None, hand: bool = True) -> RobotConfig:
    """An FR3 as franka_ros2 launches it with ``arm_prefix:=<arm_prefix>``.

    Args:
        arm_prefix: franka_ros2's ``arm_prefix`` launch argument ("" by default); the joint
            names become ``<arm_prefix>_fr3_joint1..7``.
        name: Registry name (default ``fr3`` or ``fr3_<arm_prefix>``).
        hand: Whether the Franka Hand is loaded (``load_gripper:=true``): its fingers are
            then read from franka_gripper's joint states and required in every state.
    """
    p = f"{arm_prefix}_fr3_" if arm_prefix else "fr3_"
    gripper = None
    if hand:
        gripper = GripperConfig(
            joints=(f"{p}finger_joint1", f"{p}finger_joint2"),
            open_position=0.04,
            state_topic="/franka_gripper/joint_states",
        )
    return RobotConfig(
        name=name or (f"fr3_{arm_prefix}" if arm_prefix else "fr3"),
        driver="franka_ros2",
        arm_joints=tuple(f"{p}joint{i}" for i in range(1, 8)),
        limits=FR3_LIMITS,
        command_topic="/fr3_arm_controller/joint_trajectory",
        command_type=JOINT_TRAJECTORY,
        joint_state_topic="/franka/joint_states",
        gripper=gripper,
        cameras=DEFAULT_CAMERAS,
        kinematics="panda",
        model_joints=_PANDA_MODEL_JOINTS,
        sources=(
            "franka_description robots/fr3/joint_limits.yaml (position, velocity limits)",
            "libfranka include/franka/rate_limiting.h (FR3 kMaxJointAcceleration)",
            "franka_description robots/common/franka_arm.xacro (joint names, arm_prefix)",
            "franka_ros2 franka_fr3_moveit_config/config/fr3_ros_controllers.yaml",
            "franka_ros2 franka_bringup/launch/franka.launch.py (franka/joint_states)",
            "franka_description robots/fr3/kinematics.yaml == robots/fer/kinematics.yaml",
        ),
    )


FR3 = fr3_config()
