"""The bridge as an rclpy node, for machines with ROS 2 installed (the robot's PC).

Thin, after ros2/demos: parameters declared with defaults, subscriptions, one timer at the
control rate, and the standard ``main()`` handling Ctrl-C and a launch shutdown
(``rclpy.executors.ExternalShutdownException``). The timers run on the steady clock: a
node's default clock is ROS time, which with ``use_sim_time:=true`` stands still until
``/clock`` publishes, and the control loop must never wait on that. Every conversion is a
function of :mod:`hardware.ros.messages` (the same ones the Cyclone DDS adapter uses, fed rclpy's
message classes through :func:`rclpy_message_types`); all logic is the bridge core's.

rclpy is imported only when a node is made, so this module imports anywhere; without ROS 2
it says how to get it, or to use ``robopref bridge`` (the Cyclone DDS adapter) instead.

Not done yet: the Franka gripper (franka_gripper's ``move``/``grasp`` actions).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hardware.core.errors import MessageError
from hardware.ros import messages
from hardware.ros.gripper_state import GripperStateJoin

MISSING_RCLPY = (
    "hardware.ros.rclpy_node needs ROS 2's rclpy and message packages (sensor_msgs, std_msgs, "
    "trajectory_msgs, diagnostic_msgs): source /opt/ros/<distro>/setup.bash first. "
    "Without ROS 2, run the same bridge over Cyclone DDS: `robopref bridge`."
)


def require_rclpy():
    """The ``rclpy`` module, or an ImportError saying what to install or use instead."""
    try:
        import rclpy
    except ImportError as e:
        raise ImportError(MISSING_RCLPY) from e
    return rclpy


def rclpy_message_types() -> messages.MessageTypes:
    """The ROS 2 message classes, for the writers of :mod:`hardware.ros.messages`."""
    require_rclpy()
    from builtin_interfaces.msg import Duration, Time
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from sensor_msgs.msg import CompressedImage, Image, JointState
    from std_msgs.msg import Bool, Float64MultiArray, Header
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    return messages.MessageTypes(
        Time=Time,
        Duration=Duration,
        Header=Header,
        Bool=Bool,
        Float64MultiArray=Float64MultiArray,
        JointState=JointState,
        Image=Image,
        CompressedImage=CompressedImage,
        JointTrajectory=JointTrajectory,
        JointTrajectoryPoint=JointTrajectoryPoint,
        DiagnosticArray=DiagnosticArray,
        DiagnosticStatus=DiagnosticStatus,
        KeyValue=KeyValue,
        byte=lambda v: bytes([v]),  # rclpy holds a ``byte`` field as a length-1 bytes
    )


class RclpySink:
    """Publishes the bridge's commands with rclpy (the DDS sink's twin)."""

    def __init__(self, node, robot, types: messages.MessageTypes, lead: float):
        from hardware.ros.command_io import command_io

        self.robot, self.types, self.lead = robot, types, lead
        self.io = io = command_io(robot)
        self.arm = node.create_publisher(io.arm_class(types), io.arm_topic, 10)
        self.gripper = (
            node.create_publisher(io.gripper_class(types), io.gripper_topic, 10)
            if io.gripper_topic is not None
            else None
        )

    def send(self, command) -> None:
        self.arm.publish(self.io.arm_msg(command, self.lead, types=self.types))
        gripper = self.io.gripper_msg(command, types=self.types)
        if gripper is not None:
            assert self.gripper is not None  # gripper_msg is None without a gripper topic
            self.gripper.publish(gripper)


class BridgeNode:
    """An rclpy node around a :class:`hardware.core.bridge.Bridge`.

    Parameters (``ros__parameters``): ``robot`` (franka_panda), ``policy`` (hold),
    ``policy_kwargs`` (JSON, "{}"), ``run`` (a trained run directory whose latest
    checkpoint is the policy instead, checked against the robot by
    :mod:`hardware.policies.run`; its task, cameras and frame size become the defaults; "":
    none), ``policy_blob`` (a state-based policy exported with ``robopref export --policy``,
    run by the C evaluator without torch, its state layout checked against the robot's;
    "": none), ``task``, ``control_hz`` (20.0), ``cameras`` (all of the robot's, or the run
    policy's), ``max_steps`` (0: none), ``episode_dir`` ("": keep in memory),
    ``reward`` (an exported ``.rpe`` blob evaluated and recorded every step; "": none),
    ``reward_encoder`` (the PRM file the blob's PRM head came from, for the potential; "":
    none) and ``log_success`` (``auto``: P(success) logged where the blob has a PRM success
    head; ``on``: required; ``off``); read as a
    :class:`hardware.ros.launch_config.LaunchConfig`, as ``robopref bridge`` reads its flags.
    """

    def __init__(self, name: str = "robopref_bridge"):
        rclpy = require_rclpy()
        from rclpy.clock import Clock, ClockType
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

        from hardware.core.bridge import Bridge
        from hardware.core.bridge_config import DIAGNOSTICS_TOPIC, ESTOP_TOPIC
        from hardware.robots import get_robot
        from hardware.robots.base import COMPRESSED_IMAGE
        from hardware.ros.launch_config import LaunchConfig

        self.node = node = rclpy.create_node(name)
        p = {
            "robot": "franka_panda",
            "policy": "hold",
            "policy_kwargs": "{}",
            "run": "",
            "policy_blob": "",
            "task": "unspecified",
            "control_hz": 20.0,
            "cameras": "",
            "max_steps": 0,
            "episode_dir": "",
            "reward": "",
            "reward_encoder": "",
            "log_success": "auto",
        }
        p = {k: node.declare_parameter(k, v).value for k, v in p.items()}
        launch = LaunchConfig.from_node_parameters(p)
        robot = get_robot(launch.robot)
        policy, fixed = launch.load_policy(robot)
        config = launch.bridge_config(fixed)
        self.types = types = rclpy_message_types()
        sink = RclpySink(node, robot, types, config.period)
        reward_fn = launch.load_reward(robot, config.cameras)
        self.bridge = bridge = Bridge(robot, policy, sink, config=config, reward_fn=reward_fn)
        node.create_subscription(
            types.JointState, robot.joint_state_topic, self._on_joint_state, qos_profile_sensor_data
        )
        for cam in robot.cameras:
            if cam.name in bridge.cameras:
                compressed = cam.msg_type == COMPRESSED_IMAGE
                kind = types.CompressedImage if compressed else types.Image
                decode = (
                    messages.compressed_image_from_msg if compressed else messages.image_from_msg
                )
                node.create_subscription(
                    kind, cam.topic, self._image_callback(cam.name, decode), qos_profile_sensor_data
                )
        self.gripper_join = None
        g = robot.gripper
        if g is not None and g.state_topic is not None:
            self.gripper_join = GripperStateJoin(g.joints)
            node.create_subscription(
                types.JointState, g.state_topic, self._on_gripper_state, qos_profile_sensor_data
            )
        # A reliable reader never matches a best-effort e-stop publisher; a best-effort one
        # matches both but recovers no lost sample: subscribe with both (DDS QoS RxO rules).
        for reliability in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT):
            qos = QoSProfile(depth=10, reliability=reliability)
            node.create_subscription(types.Bool, ESTOP_TOPIC, self._on_estop, qos)
        self.diagnostics = node.create_publisher(types.DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        bridge.connect()
        bridge.start()
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        node.create_timer(config.period, bridge.step, clock=steady)
        node.create_timer(1.0, self._publish_diagnostics, clock=steady)

    def _on_joint_state(self, msg) -> None:
        r = self.bridge.robot
        try:
            sample = messages.joint_state_from_msg(msg, r.arm_joints, r.gripper_joints)
        except MessageError as e:
            self.bridge.reject(e)
            return
        if r.gripper is not None and r.gripper.state_topic is not None:
            assert self.gripper_join is not None  # made for a gripper state topic
            sample = self.gripper_join.join(sample, self.bridge.clock.now())
        self.bridge.on_joint_state(sample)

    def _on_gripper_state(self, msg) -> None:
        assert self.gripper_join is not None  # subscribed only with a gripper_join
        try:
            sample = messages.joint_state_from_msg(msg, self.gripper_join.joints)
        except MessageError as e:
            self.bridge.reject(e)
            return
        self.gripper_join.update(sample, self.bridge.clock.now())

    def _image_callback(self, camera: str, decode):
        def callback(msg) -> None:
            try:
                self.bridge.on_image(camera, decode(msg))
            except MessageError as e:
                self.bridge.reject(e)

        return callback

    def _on_estop(self, msg) -> None:
        if messages.bool_from_msg(msg):
            self.bridge.estop("e-stop topic")

    def _publish_diagnostics(self) -> None:
        now = self.node.get_clock().now().nanoseconds * 1e-9
        msg = messages.diagnostic_array_msg(now, [self.bridge.diagnostics()], types=self.types)
        self.diagnostics.publish(msg)


def main(argv: Sequence[str] | None = None) -> int:
    """``ros2 run``-style entry point: spin the bridge node until Ctrl-C or until ``ros2
    launch`` shuts the context down, then end the episode and shut down cleanly."""
    rclpy = require_rclpy()
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=list(argv) if argv is not None else sys.argv)
    node = None
    try:
        node = BridgeNode()
        rclpy.spin(node.node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.bridge.disconnect()
            node.node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
