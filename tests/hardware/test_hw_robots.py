"""Robot configs: registry, validation, and the vendor numbers checked against sources."""

import math
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from hardware.robots import (
    COMMAND_TYPES,
    FLOAT64_MULTI_ARRAY,
    JOINT_TRAJECTORY,
    CameraConfig,
    GripperConfig,
    JointLimits,
    RobotConfig,
    get_robot,
    list_robots,
    register_robot,
)
from sim.robot import PANDA, UR5E, XARM6

EXPECTED = {"franka_panda", "panda_mujoco", "ur5e", "ur5e_forward_position", "xarm6"}


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
    assert cfg.command_topic.startswith("/") and cfg.joint_state_topic == "/joint_states"
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
    assert ur.command_topic == "/scaled_joint_trajectory_controller/joint_trajectory"
    assert get_robot("ur5e_forward_position").command_type == FLOAT64_MULTI_ARRAY
    x = get_robot("xarm6")
    assert x.arm_joints == tuple(f"joint{i}" for i in range(1, 7))
    assert x.limits.lower[1] == pytest.approx(math.radians(-118))
    assert x.limits.upper[2] == pytest.approx(math.radians(18))
    assert x.command_topic == "/xarm6_traj_controller/joint_trajectory"


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
    # The description's limits are the config's (one vendor file each), so the controller's
    # clip and the safety layer's agree.
    lo, hi = spec.joint_limits()
    np.testing.assert_allclose(lo, cfg.limits.lower, atol=1e-12)
    np.testing.assert_allclose(hi, cfg.limits.upper, atol=1e-12)
    assert cfg.gripper is None and spec.finger_joints == ()


def test_real_panda_sends_no_gripper_command_but_stand_in_does():
    assert get_robot("franka_panda").gripper.command_topic is None
    assert get_robot("panda_mujoco").gripper.command_topic == "/gripper_controller/commands"


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(command_type="std_msgs/msg/String"), "command_type"),
        (dict(command_topic="joint_trajectory"), "absolute ROS 2 topic"),
        (dict(arm_joints=("a", "a", "b", "c", "d", "e", "f")), "unique"),
        (dict(arm_joints=("a",)), "joint limits for 1 arm joints"),
        (dict(kinematics="kuka"), "kinematics 'kuka'"),
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
    with pytest.raises(ValueError, match=r"camera name 'top'.*front"):
        CameraConfig("top", "/top/image_raw")
    with pytest.raises(ValueError, match="msg_type"):
        CameraConfig("front", "/x", "sensor_msgs/msg/PointCloud2")


def test_register_robot_refuses_a_taken_name(monkeypatch):
    from hardware import robots

    # A private copy of the registry: other tests (the launch files') compare with it.
    monkeypatch.setattr(robots, "_ROBOTS", dict(robots._registry()))
    cfg = replace(get_robot("franka_panda"), name="test_panda_copy")
    assert register_robot(cfg) is cfg
    assert get_robot("test_panda_copy") is cfg
    with pytest.raises(ValueError, match="already registered"):
        register_robot(cfg)
    assert isinstance(cfg, RobotConfig)


def test_rclpy_node_imports_here_and_says_what_is_missing():
    import importlib.util

    import hardware.ros_node as ros_node

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
        "import sys, hardware, hardware.bridge, hardware.safety, hardware.messages, "
        "hardware.ros_node, hardware.run_policy, hardware.bridge_cli; "
        "[hardware.get_robot(n).robot_spec() for n in ('franka_panda', 'ur5e', 'xarm6')]; "
        "print(sorted(m for m in ('cyclonedds', 'rclpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
