"""Robot configs: registry, validation, and the vendor numbers checked against sources."""

import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from hardware.robots import get_robot, list_robots, register_robot
from hardware.robots.base import (
    COMMAND_TYPES,
    FLOAT64_MULTI_ARRAY,
    JOINT_TRAJECTORY,
    CameraConfig,
    GripperConfig,
    JointLimits,
    RobotConfig,
)
from sim.robot import PANDA, UR5E, XARM6

EXPECTED = {"fr3", "franka_panda", "panda_mujoco", "ur5e", "ur5e_forward_position", "xarm6"}
#: Robots whose kinematic model (sim/robot/, owned by the sim side) does not carry the
#: config's vendor limits yet: the controller clips to the model's, the safety layer to the
#: config's. The FR3 runs on the Panda model (its limits are tighter). Remove an entry once
#: its model takes the config's numbers.
MODEL_LIMITS_DIFFER = {"fr3"}


def test_registry_lists_builtin_robots_and_unknown_names_list_valid_ones():
    assert EXPECTED <= set(list_robots())
    with pytest.raises(ValueError, match=r"unknown robot 'kuka'.*franka_panda.*ur5e.*xarm6"):
        get_robot("kuka")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_config_is_consistent(name):
    cfg = get_robot(name)
    n = cfg.n_arm
    assert len(cfg.limits.lower) == len(cfg.limits.velocity) == n
    assert cfg.command_type in COMMAND_TYPES
    assert cfg.command_topic.startswith("/") and cfg.joint_state_topic.endswith("/joint_states")
    assert all(lo < hi for lo, hi in zip(cfg.limits.lower, cfg.limits.upper))
    assert cfg.sources, "every config names where its numbers come from"
    suffix = "/joint_trajectory" if cfg.command_type == JOINT_TRAJECTORY else "/commands"
    assert cfg.command_topic.endswith(suffix)


def test_panda_limits_are_the_urdf_safety_controller_soft_limits():
    # The Franka datasheet limits also sit in the URDF the simulators load; parse them there.
    root = ET.fromstring(PANDA.urdf_text())
    soft = {
        j.get("name"): (
            float(j.find("safety_controller").get("soft_lower_limit")),
            float(j.find("safety_controller").get("soft_upper_limit")),
        )
        for j in root.findall("joint")
        if j.find("safety_controller") is not None
    }
    cfg = get_robot("franka_panda")
    assert cfg.arm_joints == PANDA.arm_joints
    for i, j in enumerate(cfg.arm_joints):
        assert (cfg.limits.lower[i], cfg.limits.upper[i]) == soft[j]
    urdf_lo, urdf_hi = PANDA.joint_limits()
    assert (np.asarray(cfg.limits.lower) >= urdf_lo).all()
    assert (np.asarray(cfg.limits.upper) <= urdf_hi).all()
    assert cfg.limits.velocity == (2.175,) * 4 + (2.61,) * 3


def test_ur5e_and_xarm6_vendor_values():
    ur = get_robot("ur5e")
    assert ur.arm_joints[2] == "elbow_joint"
    assert ur.limits.upper[2] == pytest.approx(math.pi) and ur.limits.upper[0] == pytest.approx(
        2 * math.pi
    )
    assert ur.limits.velocity == pytest.approx((math.pi,) * 6)
    assert ur.command_topic.endswith("joint_trajectory_controller/joint_trajectory")  # by distro
    assert get_robot("ur5e_forward_position").command_type == FLOAT64_MULTI_ARRAY
    x = get_robot("xarm6")
    assert x.arm_joints == tuple(f"joint{i}" for i in range(1, 7))
    assert x.command_topic == "/xarm6_traj_controller/joint_trajectory"


def test_xarm6_limits_are_the_vendor_urdf_values():
    # xarm_ros2 xarm_description/urdf/xarm6/xarm6.urdf.xacro (xarm6_urdf macro defaults)
    # and xarm_moveit_config/config/xarm6/joint_limits.yaml (2.14 rad/s).
    x = get_robot("xarm6")
    tau = 2 * math.pi
    assert x.limits.lower == pytest.approx((-tau, -2.059, -3.927, -tau, -1.69297, -tau))
    assert x.limits.upper == pytest.approx((tau, 2.0944, 0.19198, tau, math.pi, tau))
    assert x.limits.velocity == (2.14,) * 6
    assert "xarm_description/urdf/xarm6/xarm6.urdf.xacro" in " ".join(x.sources)


def test_xarm6_commands_stop_at_the_vendors_joint3_and_wide_states_are_plausible():
    from hardware.core.safety import CommandLimiter, SafetyConfig, implausible_joint_state
    from hardware.core.samples import JointStateSample

    x = get_robot("xarm6")
    cfg = SafetyConfig()
    lim = CommandLimiter(
        x.limits.lower, x.limits.upper, x.limits.velocity, x.limits.acceleration, cfg, 0.05
    )
    q = np.array([0.0, 0.0, 0.1, 0.0, 0.5, 0.0])
    target = q.copy()
    target[2] = math.radians(18)  # the old upper limit: 7 deg past the vendor's stop
    for _ in range(100):
        cmd, _ = lim.limit(target, q)
        q = cmd
    assert q[2] <= 0.19198 - cfg.position_margin + 1e-12
    # Joints 1, 4 and 6 turn +-2 pi: a measured 200 deg is a state the arm can be in.
    wide = np.array([math.radians(200), 0.0, -3.5, math.radians(-200), 0.0, 4.0])
    state = JointStateSample(0.0, x.arm_joints, wide, np.zeros(6))
    assert implausible_joint_state(x, state) is None


def test_xarm6_reads_the_drivers_raw_joint_states():
    # xarm_api/src/xarm_driver.cpp publishes <hw_ns>/joint_states (hw_ns: xarm); /joint_states
    # is joint_state_publisher re-publishing it at 10 Hz, stamped at re-publish time.
    assert get_robot("xarm6").joint_state_topic == "/xarm/joint_states"


# franka_description robots/fr3/joint_limits.yaml
FR3_LOWER = (-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159)
FR3_UPPER = (2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159)
FR3_VELOCITY = (2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26)


def test_fr3_is_franka_ros2s_arm_with_franka_description_names_and_limits():
    from hardware.robots.franka_fr3 import fr3_config

    fr3 = get_robot("fr3")
    assert fr3.arm_joints == tuple(f"fr3_joint{i}" for i in range(1, 8))
    assert fr3.gripper.joints == ("fr3_finger_joint1", "fr3_finger_joint2")
    assert (fr3.limits.lower, fr3.limits.upper) == (FR3_LOWER, FR3_UPPER)
    assert fr3.limits.velocity == FR3_VELOCITY and fr3.limits.acceleration == (10.0,) * 7
    # Not the Panda's: joints 1, 4 and 5 are tighter, joint 6 starts above the Panda's 0.
    panda = get_robot("franka_panda").limits
    for i in (0, 3, 4):
        assert panda.lower[i] < fr3.limits.lower[i] and fr3.limits.upper[i] < panda.upper[i]
    assert fr3.limits.lower[5] > 0.5 > panda.lower[5]
    # Raw arm stream, fingers from franka_gripper, no gripper command (actions only).
    assert fr3.joint_state_topic == "/franka/joint_states"
    assert fr3.gripper.state_topic == "/franka_gripper/joint_states"
    assert fr3.gripper.command_topic is None
    assert fr3.command_topic == "/fr3_arm_controller/joint_trajectory"
    # arm_prefix:=left gives left_fr3_joint1.. as franka_description's xacro does.
    left = fr3_config("left")
    assert left.name == "fr3_left" and left.arm_joints[0] == "left_fr3_joint1"
    assert left.gripper.joints == ("left_fr3_finger_joint1", "left_fr3_finger_joint2")
    assert fr3_config(hand=False).gripper is None


def test_fr3_drives_on_the_panda_model_by_joint_order():
    fr3 = get_robot("fr3")
    assert fr3.robot_spec() is PANDA and fr3.model_joints == PANDA.arm_joints
    with pytest.raises(ValueError, match="model_joints"):
        replace(fr3, model_joints=PANDA.arm_joints[:6])


def test_ur5e_trajectory_controller_follows_the_ros_distribution():
    from hardware.robots.ur5e import ur5e_config

    scaled = "/scaled_joint_trajectory_controller/joint_trajectory"
    plain = "/joint_trajectory_controller/joint_trajectory"
    for distro in ("humble", "jazzy", "kilted", None, "unknown"):
        assert ur5e_config(distro).command_topic == scaled, distro
    for distro in ("lyrical", "rolling", "Lyrical "):
        assert ur5e_config(distro).command_topic == plain, distro
    # The registered ur5e follows the ROS_DISTRO a sourced ROS 2 sets.
    code = "from hardware.robots import get_robot; print(get_robot('ur5e').command_topic)"
    env = {**os.environ, "ROS_DISTRO": "lyrical"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == plain


def test_ur5e_forward_position_says_it_streams_uninterpolated_steps():
    import hardware.robots.ur5e as ur5e

    src = ur5e.__loader__.get_source(ur5e.__name__)
    forward = src[src.index("UR5E_FORWARD = ") - 700 :]
    assert "no interpolation" in forward and "20 Hz" in forward


def test_robot_without_kinematics_cannot_be_driven_and_says_which_can():
    unmodelled = replace(get_robot("ur5e"), name="ur5e_unmodelled", kinematics=None)
    with pytest.raises(ValueError, match=r"no kinematic model.*franka_panda.*ur5e.*xarm6"):
        unmodelled.robot_spec()
    assert get_robot("franka_panda").robot_spec() is PANDA


@pytest.mark.parametrize(
    "name, spec", [("ur5e", UR5E), ("ur5e_forward_position", UR5E), ("xarm6", XARM6)]
)
def test_ur5e_and_xarm6_have_kinematic_models_that_fit_their_configs(name, spec):
    cfg = get_robot(name)
    assert cfg.robot_spec() is spec
    assert spec.arm_joints == cfg.arm_joints  # joint states map onto the chain by name
    assert cfg.gripper is None and spec.finger_joints == ()
    if name in MODEL_LIMITS_DIFFER:
        return  # see MODEL_LIMITS_DIFFER and the test below
    # The description's limits are the config's (one vendor file each), so the controller's
    # clip and the safety layer's agree.
    lo, hi = spec.joint_limits()
    np.testing.assert_allclose(lo, cfg.limits.lower, atol=1e-12)
    np.testing.assert_allclose(hi, cfg.limits.upper, atol=1e-12)


@pytest.mark.parametrize("name", sorted(MODEL_LIMITS_DIFFER))
def test_models_listed_as_differing_still_differ(name):
    cfg = get_robot(name)
    lo, hi = cfg.robot_spec().joint_limits()
    same = np.allclose(lo, cfg.limits.lower, atol=1e-9) and np.allclose(
        hi, cfg.limits.upper, atol=1e-9
    )
    assert not same, f"{name}'s model now has the config's limits: drop it from the set"


def test_real_panda_sends_no_gripper_command_but_stand_in_does():
    assert get_robot("franka_panda").gripper.command_topic is None
    assert get_robot("panda_mujoco").gripper.command_topic == "/gripper_controller/commands"


def test_franka_configs_read_the_raw_stream_and_the_stand_in_its_own():
    # franka_ros2 franka_bringup/launch/franka.launch.py: the ros2_control node publishes on
    # franka/joint_states; /joint_states is joint_state_publisher's 30 Hz re-publish.
    panda, stand_in = get_robot("franka_panda"), get_robot("panda_mujoco")
    assert panda.joint_state_topic == "/franka/joint_states"
    assert panda.gripper.state_topic == "/panda_gripper/joint_states"
    # The MuJoCo stand-in publishes every joint on /joint_states, as joint_state_broadcaster.
    assert stand_in.joint_state_topic == "/joint_states" and stand_in.gripper.state_topic is None


def test_summary_is_plain_json_with_every_field():
    import json

    for name in list_robots():
        row = json.loads(json.dumps(get_robot(name).summary()))
        cfg = get_robot(name)
        assert row["name"] == name and row["joint_names"] == list(cfg.arm_joints)
        assert row["lower"] == list(cfg.limits.lower) and row["velocity"] == list(
            cfg.limits.velocity
        )
        assert row["state_topic"] == cfg.joint_state_topic
        assert (row["command_topic"], row["command_type"]) == (
            cfg.command_topic,
            cfg.command_type,
        )
        assert [c["name"] for c in row["cameras"]] == [c.name for c in cfg.cameras]


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(command_type="std_msgs/msg/String"), "command_type"),
        (dict(command_topic="joint_trajectory"), "absolute ROS 2 topic"),
        (dict(arm_joints=("a", "a", "b", "c", "d", "e", "f")), "unique"),
        (dict(arm_joints=("a",)), "joint limits for 1 arm joints"),
        (dict(kinematics="kuka"), "kinematics 'kuka'"),
        (dict(model_joints=("a",)), "1 model_joints for 7 arm joints"),
        (dict(cameras=(CameraConfig("front", "/a"), CameraConfig("front", "/b"))), "unique"),
    ],
)
def test_robot_config_is_checked_at_construction(change, match):
    with pytest.raises(ValueError, match=match):
        replace(get_robot("franka_panda"), **change)


def test_limits_gripper_and_camera_are_checked():
    with pytest.raises(ValueError, match="lower >= upper"):
        JointLimits((1.0,), (0.0,), (1.0,), (1.0,))
    with pytest.raises(ValueError, match="finite"):
        JointLimits((float("nan"),), (0.0,), (1.0,), (1.0,))
    with pytest.raises(ValueError, match="velocity must be > 0"):
        JointLimits((0.0,), (1.0,), (0.0,), (1.0,))
    with pytest.raises(ValueError, match="3 values, lower has 1"):
        JointLimits((0.0,), (1.0, 2.0, 3.0), (1.0,), (1.0,))
    with pytest.raises(ValueError, match="open_position"):
        GripperConfig(("f",), 0.0)
    with pytest.raises(ValueError, match="gripper state_topic"):
        GripperConfig(("f",), 0.04, state_topic="gripper/joint_states")
    with pytest.raises(ValueError, match=r"camera name 'top'.*front"):
        CameraConfig("top", "/top/image_raw")
    with pytest.raises(ValueError, match="msg_type"):
        CameraConfig("front", "/x", "sensor_msgs/msg/PointCloud2")


def test_register_robot_refuses_a_taken_name(monkeypatch):
    from hardware.robots import base

    # A private copy of the registry: other tests (the launch files') compare with it.
    monkeypatch.setattr(base, "_ROBOTS", dict(base._ROBOTS))
    cfg = replace(get_robot("franka_panda"), name="test_panda_copy")
    assert register_robot(cfg) is cfg
    assert get_robot("test_panda_copy") is cfg
    with pytest.raises(ValueError, match="already registered"):
        register_robot(cfg)
    assert isinstance(cfg, RobotConfig)


def test_rclpy_node_imports_here_and_says_what_is_missing():
    import importlib.util

    import hardware.ros.rclpy_node as ros_node

    if importlib.util.find_spec("rclpy") is not None:
        pytest.skip("rclpy is installed here; this checks the message without it")
    for call in (ros_node.require_rclpy, ros_node.rclpy_message_types, ros_node.main):
        with pytest.raises(ImportError, match=r"rclpy.*robopref bridge"):
            call()


def test_bridge_core_and_rclpy_node_import_no_middleware():
    # DESIGN.md: the bridge core imports no ROS; the conversions need no cyclonedds either,
    # so the rclpy node runs on a robot PC with ROS 2 only. A fresh interpreter checks it.
    import subprocess
    import sys

    code = (
        "import sys, hardware, hardware.core.bridge, hardware.core.safety, hardware.ros.messages, "
        "hardware.ros.rclpy_node, hardware.policies.run, hardware.ros.bridge_cli; "
        "[hardware.get_robot(n).robot_spec() for n in ('franka_panda', 'ur5e', 'xarm6')]; "
        "print(sorted(m for m in ('cyclonedds', 'rclpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
