"""Sim-in-the-loop: the MuJoCo stand-in arm and the robopref bridge node, closed loop.

Starts :mod:`hardware.standin.sim_robot` (``python -m hardware.standin.sim_robot``, the same
program as
``robopref sim-robot``), which publishes joint states and camera frames and follows joint
commands on the topics a ros2_control Panda driver uses, and the bridge node
(:mod:`hardware.ros.rclpy_node`, as in ``deploy.launch.py``) with the same robot config, task and
cameras. The stand-in speaks ROS 2 over Cyclone DDS without ROS, so the node uses
rmw_cyclonedds_cpp in the same domain. The stand-in publishes no /clock: the node keeps
wall time (no use_sim_time), and episodes are not recorded here, since the node would label
them as real-robot data.

    ros2 launch launch/sim_robot.launch.py task:=panda-reach \\
        policy:=reach policy_kwargs:='{"goal": [0.5, 0.0, 0.3]}'

Either process ending stops the other.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, SetEnvironmentVariable, Shutdown
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

#: The Panda tasks of sim/ the stand-in can run (tests check them against sim.list_tasks).
TASKS = ["panda-lift", "panda-pick-place", "panda-push", "panda-reach"]
#: Robot configs with the Panda's kinematics, the arm the MuJoCo workcell models.
ROBOTS = ["panda_mujoco", "franka_panda"]


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument(
            "task",
            default_value="panda-reach",
            choices=TASKS,
            description="Panda task of the MuJoCo workcell (placement, success check)",
        ),
        DeclareLaunchArgument(
            "robot",
            default_value="panda_mujoco",
            choices=ROBOTS,
            description=(
                "Robot config both sides use: panda_mujoco (trajectory controller and a "
                "finger controller) or franka_panda (as the real Panda: no gripper topic)"
            ),
        ),
        DeclareLaunchArgument(
            "policy",
            default_value="hold",
            description=(
                "Policy the bridge runs: 'hold', 'reach' (goal in policy_kwargs) or "
                "'package.module:factory'; for a trained run use run instead"
            ),
        ),
        DeclareLaunchArgument(
            "run",
            default_value="",
            description=(
                "Trained run directory whose latest checkpoint the bridge runs, checked "
                "against the robot and task first (not with policy); empty: use policy"
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
            description="JSON keyword arguments of the policy, e.g. '{\"goal\": [0.5, 0.0, 0.3]}'",
        ),
        DeclareLaunchArgument(
            "cameras",
            default_value="front,side,wrist",
            description=(
                "Comma-separated, non-empty list of the cameras the stand-in renders and the "
                "policy sees (front, side, wrist); the same list goes to both processes"
            ),
        ),
        DeclareLaunchArgument(
            "seed",
            default_value="0",
            description="Episode seed of the stand-in: cube and goal placement",
        ),
        DeclareLaunchArgument(
            "domain_id",
            default_value=EnvironmentVariable("ROS_DOMAIN_ID", default_value="0"),
            description="ROS 2 (DDS) domain both processes join; default: $ROS_DOMAIN_ID or 0",
        ),
        DeclareLaunchArgument(
            "rmw_implementation",
            default_value="rmw_cyclonedds_cpp",
            description=(
                "RMW of the bridge node; the stand-in speaks Cyclone DDS, which "
                "rmw_cyclonedds_cpp talks to without any bridging"
            ),
        ),
        DeclareLaunchArgument(
            "control_hz",
            default_value="20.0",
            description="Bridge control rate in Hz (the simulator's 20 Hz, as in training)",
        ),
        DeclareLaunchArgument(
            "max_steps",
            default_value="0",
            description="Episode length limit of the bridge in control steps; 0: none",
        ),
        DeclareLaunchArgument(
            "state_rate",
            default_value="100.0",
            description="Joint state rate of the stand-in in Hz; physics advances in these steps",
        ),
        DeclareLaunchArgument(
            "camera_rate",
            default_value="20.0",
            description="Camera frame rate of the stand-in in Hz, a divisor of state_rate",
        ),
        DeclareLaunchArgument(
            "python",
            default_value="python3",
            description=(
                "Python interpreter for both processes: it must import robopref (MuJoCo, "
                "cyclonedds) and ROS 2's rclpy"
            ),
        ),
    ]
    sim_robot = ExecuteProcess(
        cmd=[
            LaunchConfiguration("python"),
            "-m",
            "hardware.standin.sim_robot",
            "--task",
            LaunchConfiguration("task"),
            "--robot",
            LaunchConfiguration("robot"),
            "--seed",
            LaunchConfiguration("seed"),
            "--cameras",
            LaunchConfiguration("cameras"),
            "--state-rate",
            LaunchConfiguration("state_rate"),
            "--camera-rate",
            LaunchConfiguration("camera_rate"),
            "--domain-id",
            LaunchConfiguration("domain_id"),
        ],
        name="sim_robot",
        output="screen",
        on_exit=Shutdown(reason="the MuJoCo stand-in robot exited"),
    )
    bridge = Node(
        executable=LaunchConfiguration("python"),
        arguments=["-m", "hardware.ros.rclpy_node"],
        name="robopref_bridge",
        output="screen",
        emulate_tty=True,
        on_exit=Shutdown(reason="the bridge node exited"),
        parameters=[
            {
                "robot": ParameterValue(LaunchConfiguration("robot"), value_type=str),
                "task": ParameterValue(LaunchConfiguration("task"), value_type=str),
                "policy": ParameterValue(LaunchConfiguration("policy"), value_type=str),
                "policy_kwargs": ParameterValue(
                    LaunchConfiguration("policy_kwargs"), value_type=str
                ),
                "run": ParameterValue(LaunchConfiguration("run"), value_type=str),
                "policy_blob": ParameterValue(LaunchConfiguration("policy_blob"), value_type=str),
                "cameras": ParameterValue(LaunchConfiguration("cameras"), value_type=str),
                "control_hz": ParameterValue(LaunchConfiguration("control_hz"), value_type=float),
                "max_steps": ParameterValue(LaunchConfiguration("max_steps"), value_type=int),
            },
        ],
    )
    return LaunchDescription(
        [
            *arguments,
            SetEnvironmentVariable("ROS_DOMAIN_ID", LaunchConfiguration("domain_id")),
            SetEnvironmentVariable("RMW_IMPLEMENTATION", LaunchConfiguration("rmw_implementation")),
            sim_robot,
            bridge,
        ]
    )
