"""The rclpy node (``hardware/ros/rclpy_node.py``) against a fake of the rclpy API it uses.

rclpy cannot be installed here (DESIGN.md), so ``rclpy``, ``rclpy.qos``, ``rclpy.clock``,
``rclpy.executors`` and the message packages are stand-ins with the same names and
signatures (rclpy's ``Node.create_timer(timer_period_sec, callback, callback_group=None,
clock=None)``, ``Clock(clock_type=...)``, ``QoSProfile(depth=..., reliability=...)``); the
message classes are the Cyclone DDS structs, which the node's conversions read alike.
What runs is the node's own code on a real bridge.
"""

import enum
import sys
import types

import numpy as np
import pytest

from hardware.core.bridge_config import ESTOP_TOPIC
from hardware.robots import get_robot
from hardware.ros import idl, messages


class ClockType(enum.Enum):
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


class Clock:
    def __init__(self, *, clock_type=ClockType.SYSTEM_TIME):
        self.clock_type = clock_type

    def now(self):
        return types.SimpleNamespace(nanoseconds=123_000_000_000)


class ReliabilityPolicy(enum.Enum):
    RELIABLE = 1
    BEST_EFFORT = 2


class QoSProfile:
    def __init__(self, *, depth, reliability=ReliabilityPolicy.RELIABLE):
        self.depth, self.reliability = depth, reliability


class ExternalShutdownException(Exception):
    pass


class FakeNode:
    def __init__(self, name, overrides):
        self.name, self.overrides = name, overrides
        self.subscriptions, self.publishers, self.timers = [], [], []
        self.destroyed = False

    def declare_parameter(self, name, value):
        return types.SimpleNamespace(value=self.overrides.get(name, value))

    def create_subscription(self, msg_type, topic, callback, qos_profile):
        self.subscriptions.append((msg_type, topic, callback, qos_profile))

    def create_publisher(self, msg_type, topic, qos_profile):
        pub = types.SimpleNamespace(topic=topic, sent=[])
        pub.publish = pub.sent.append
        self.publishers.append(pub)
        return pub

    def create_timer(self, timer_period_sec, callback, callback_group=None, clock=None):
        self.timers.append((timer_period_sec, callback, clock))

    def get_clock(self):
        return Clock(clock_type=ClockType.ROS_TIME)

    def destroy_node(self):
        self.destroyed = True


@pytest.fixture
def fake_rclpy(monkeypatch):
    """Installs the fake; returns its state (parameter overrides, nodes, spin behaviour)."""
    state = types.SimpleNamespace(overrides={}, nodes=[], spin=None, shutdowns=0)
    rclpy = types.ModuleType("rclpy")

    def create_node(name):
        node = FakeNode(name, state.overrides)
        state.nodes.append(node)
        return node

    def spin(node):
        if state.spin is not None:
            state.spin(node)

    def try_shutdown():
        state.shutdowns += 1

    rclpy.create_node, rclpy.spin, rclpy.try_shutdown = create_node, spin, try_shutdown
    rclpy.init = lambda args=None: None
    qos = types.ModuleType("rclpy.qos")
    qos.QoSProfile, qos.ReliabilityPolicy = QoSProfile, ReliabilityPolicy
    qos.qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    clock = types.ModuleType("rclpy.clock")
    clock.Clock, clock.ClockType = Clock, ClockType
    executors = types.ModuleType("rclpy.executors")
    executors.ExternalShutdownException = ExternalShutdownException
    rclpy.qos, rclpy.clock, rclpy.executors = qos, clock, executors
    mods = {"rclpy": rclpy, "rclpy.qos": qos, "rclpy.clock": clock, "rclpy.executors": executors}
    t = messages.dds_types()
    for pkg, names in {
        "builtin_interfaces": ("Time", "Duration"),
        "diagnostic_msgs": ("DiagnosticArray", "DiagnosticStatus", "KeyValue"),
        "sensor_msgs": ("CompressedImage", "Image", "JointState"),
        "std_msgs": ("Bool", "Float64MultiArray", "Header"),
        "trajectory_msgs": ("JointTrajectory", "JointTrajectoryPoint"),
    }.items():
        msg = types.ModuleType(f"{pkg}.msg")
        for n in names:
            setattr(msg, n, getattr(t, n))
        mods[pkg], mods[f"{pkg}.msg"] = types.ModuleType(pkg), msg
    for name, module in mods.items():
        monkeypatch.setitem(sys.modules, name, module)
    return state


def make_node(fake_rclpy, **params):
    from hardware.ros.rclpy_node import BridgeNode

    fake_rclpy.overrides.update(params)
    node = BridgeNode()
    return node, fake_rclpy.nodes[-1]


def test_timers_run_on_the_steady_clock(fake_rclpy):
    # With use_sim_time:=true the node's default (ROS) clock stands still until /clock
    # publishes: a control timer on it would never fire.
    node, fake = make_node(fake_rclpy, robot="panda_mujoco")
    (control,) = [t for t in fake.timers if t[1] == node.bridge.step]
    assert control[0] == pytest.approx(node.bridge.config.period)
    for _, _, clock in fake.timers:
        assert clock is not None and clock.clock_type is ClockType.STEADY_TIME


def test_estop_is_heard_from_reliable_and_best_effort_publishers(fake_rclpy):
    node, fake = make_node(fake_rclpy, robot="panda_mujoco")
    estops = [s for s in fake.subscriptions if s[1] == ESTOP_TOPIC]
    assert {s[3].reliability for s in estops} == set(ReliabilityPolicy)
    best_effort = next(s for s in estops if s[3].reliability is ReliabilityPolicy.BEST_EFFORT)
    best_effort[2](messages.bool_msg(True))
    assert node.bridge.estop_latch.active


def test_fr3_node_reads_raw_arm_states_joined_with_the_gripper_topic(fake_rclpy):
    cfg = get_robot("fr3")
    node, fake = make_node(fake_rclpy, robot="fr3", cameras="front")
    subs = {s[1]: s for s in fake.subscriptions}
    assert subs["/franka/joint_states"][3].reliability is ReliabilityPolicy.BEST_EFFORT
    on_arm, on_fingers = subs["/franka/joint_states"][2], subs["/franka_gripper/joint_states"][2]
    q = list(cfg.robot_spec().home_q)
    # joint_state_broadcaster's message, plus a joint we do not know: taken once joined.
    arm = messages.joint_state_msg(5.0, cfg.arm_joints + ("fr3_joint8",), q + [0.0])
    on_arm(arm)
    assert node.bridge.counters.rejected_messages == 1  # no fingers yet
    on_fingers(messages.joint_state_msg(5.0, cfg.gripper.joints, [0.02, 0.02]))
    on_arm(messages.joint_state_msg(5.01, cfg.arm_joints + ("fr3_joint8",), q + [0.0]))
    assert node.bridge.counters.rejected_messages == 1
    assert node.bridge.joint_state_arrival is not None
    np.testing.assert_allclose(node.bridge._js.select(cfg.gripper.joints)[0], [0.02, 0.02])


@pytest.mark.parametrize("stop", [ExternalShutdownException, KeyboardInterrupt])
def test_main_ends_cleanly_when_launch_shuts_the_context_down(fake_rclpy, stop):
    from hardware.ros.rclpy_node import main

    fake_rclpy.overrides["robot"] = "panda_mujoco"

    def spin(node):
        raise stop()

    fake_rclpy.spin = spin
    assert main([]) == 0
    (node,) = fake_rclpy.nodes
    assert node.destroyed and fake_rclpy.shutdowns == 1


def test_fake_message_types_are_the_dds_structs(fake_rclpy):
    from hardware.ros.rclpy_node import rclpy_message_types

    assert rclpy_message_types().JointState is idl.JointState_
