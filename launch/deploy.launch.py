"""Deploy a policy on a robot arm: the robopref bridge as an rclpy node.

Starts :mod:`hardware.ros.rclpy_node` (``python -m hardware.ros.rclpy_node``) next to the
arm's ROS 2
driver (franka_ros2, ur_robot_driver, xarm_ros2), which must already be running with its
joint trajectory (or forward position) controller active. The launch file only wires
arguments to node parameters; the robot's topics, joints and limits come from its robot
config (``hardware/robots/``), all logic from the bridge core.

Rig settings that are not arguments here (``task``, ``cameras``, ``max_steps``) come from
``params_file``, a YAML under ``ros__parameters`` (examples in ``launch/config/``).
Arguments are applied after that file, so they win over it.

Run from a shell where ROS 2 is sourced, with a ``python`` that imports robopref and rclpy::

    # a Franka Research 3 on current franka_ros2 (robot_type:=fr3, load_gripper:=true)
    ros2 launch launch/deploy.launch.py robot:=fr3 python:=$PWD/.venv/bin/python \\
        params_file:=launch/config/fr3.yaml record_dir:=runs/real/episodes

    # a trained run on a UR5e (ur_robot_driver running; its trajectory controller follows
    # the sourced ROS_DISTRO: scaled_joint_trajectory_controller up to Kilted,
    # joint_trajectory_controller from Lyrical)
    ros2 launch launch/deploy.launch.py robot:=ur5e python:=$PWD/.venv/bin/python \\
        params_file:=launch/config/ur5e.yaml run:=runs/ur5e-reach record_dir:=runs/real/ur5e
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, ThisLaunchFileDir
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

#: Robot configs registered in hardware/robots (tests check this against the registry).
ROBOTS = ["fr3", "franka_panda", "panda_mujoco", "ur5e", "ur5e_forward_position", "xarm6"]


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument(
            "robot",
            default_value="franka_panda",
            choices=ROBOTS,
            description=(
                "Robot config (hardware/robots): its joint names, vendor limits, controller "
                "and camera topics; each has a kinematic model (Panda, UR5e, xArm6) for the "
                "shared end-effector controller"
            ),
        ),
        DeclareLaunchArgument(
            "policy",
            default_value="hold",
            description=(
                "Policy to run: 'hold' (no motion), 'reach' (scripted, needs a goal in "
                "policy_kwargs) or 'package.module:factory'; for a trained run use run instead"
            ),
        ),
        DeclareLaunchArgument(
            "run",
            default_value="",
            description=(
                "Trained run directory (runs/<name>): the policy of its latest checkpoint, "
                "checked against the robot (task, state size, cameras) before anything moves; "
                "its task, cameras and frame size become the defaults. Not with policy; "
                "empty: use policy"
            ),
        ),
        DeclareLaunchArgument(
            "policy_blob",
            default_value="",
            description=(
                "A state-based run's policy exported with `robopref export --policy RUN --out "
                "policy.rpe`, run by the C evaluator without torch or the learner; its state "
                "layout must be the robot's. Not with run or policy; empty: none"
            ),
        ),
        DeclareLaunchArgument(
            "policy_kwargs",
            default_value="{}",
            description=(
                'JSON keyword arguments of the policy factory, e.g. \'{"goal": [0.5, 0.0, '
                "0.3]}' for reach or the run directory a trained policy is loaded from"
            ),
        ),
        DeclareLaunchArgument(
            "reward",
            default_value="",
            description=(
                "Exported reward evaluator blob (.rpe, robopref.evaluator) evaluated on every "
                "step and recorded with the episode, never fed back into control; empty: none"
            ),
        ),
        DeclareLaunchArgument(
            "log_success",
            default_value="auto",
            description=(
                "Log the reward blob's P(success) each step: auto (where the blob has a PRM "
                "success head), on (refuse to start without one), off"
            ),
        ),
        DeclareLaunchArgument(
            "reward_encoder",
            default_value="",
            description=(
                "The PRM file (robopref.rewards.prm) the reward blob's PRM head was exported "
                "from: its encoder turns camera frames into the head's features, giving the "
                "recorded potential; empty: no potential (needs reward)"
            ),
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([ThisLaunchFileDir(), "config", "bridge.yaml"]),
            description=(
                "YAML of node parameters under ros__parameters (task, cameras, max_steps); "
                "the arguments of this launch file override it. Default: the node's defaults"
            ),
        ),
        DeclareLaunchArgument(
            "control_hz",
            default_value="20.0",
            description=(
                "Control rate in Hz; keep the simulator's 20 Hz a policy was trained at, so "
                "that one action means the same end-effector motion"
            ),
        ),
        DeclareLaunchArgument(
            "record_dir",
            default_value="",
            description=(
                "Directory the finished episodes are saved to (the shared episode format), "
                "for labelling in the query UI; empty: kept in memory only"
            ),
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            choices=["true", "false"],
            description=(
                "Stamp the node's diagnostics with /clock time (a simulator publishing "
                "/clock); the control loop itself always runs on the monotonic clock"
            ),
        ),
        DeclareLaunchArgument(
            "namespace",
            default_value="",
            description=(
                "ROS namespace of the bridge node; the robot's topics are absolute names "
                "from its robot config and do not move with it"
            ),
        ),
        DeclareLaunchArgument(
            "python",
            default_value="python3",
            description=(
                "Python interpreter that imports both robopref and ROS 2's rclpy, e.g. a "
                "virtual environment made with --system-site-packages after sourcing ROS 2"
            ),
        ),
    ]
    bridge = Node(
        executable=LaunchConfiguration("python"),
        arguments=["-m", "hardware.ros.rclpy_node"],
        name="robopref_bridge",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "robot": ParameterValue(LaunchConfiguration("robot"), value_type=str),
                "policy": ParameterValue(LaunchConfiguration("policy"), value_type=str),
                "policy_kwargs": ParameterValue(
                    LaunchConfiguration("policy_kwargs"), value_type=str
                ),
                "run": ParameterValue(LaunchConfiguration("run"), value_type=str),
                "policy_blob": ParameterValue(LaunchConfiguration("policy_blob"), value_type=str),
                "reward": ParameterValue(LaunchConfiguration("reward"), value_type=str),
                "reward_encoder": ParameterValue(
                    LaunchConfiguration("reward_encoder"), value_type=str
                ),
                "log_success": ParameterValue(LaunchConfiguration("log_success"), value_type=str),
                "control_hz": ParameterValue(LaunchConfiguration("control_hz"), value_type=float),
                "episode_dir": ParameterValue(LaunchConfiguration("record_dir"), value_type=str),
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
            },
        ],
    )
    return LaunchDescription([*arguments, bridge])
