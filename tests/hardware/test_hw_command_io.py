"""The command wire: one module decides every robot's command type and topics."""

import ast
from pathlib import Path

import numpy as np
import pytest

from hardware.core.reward_hook import reward_hook_from
from hardware.core.samples import JointCommand
from hardware.robots import get_robot, list_robots
from hardware.robots.base import FLOAT64_MULTI_ARRAY, JOINT_TRAJECTORY
from hardware.ros import idl
from hardware.ros.command_io import command_io

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"


@pytest.mark.parametrize("name", list_robots())
def test_command_io_round_trips_every_robot(name):
    robot = get_robot(name)
    io = command_io(robot)
    assert io.arm_topic == robot.command_topic and io.arm_type == robot.command_type
    assert io.trajectory == (robot.command_type == JOINT_TRAJECTORY)
    assert io.arm_class() is (idl.JointTrajectory_ if io.trajectory else idl.Float64MultiArray_)
    q = np.linspace(-0.5, 0.5, robot.n_arm)
    cmd = JointCommand(0.0, robot.arm_joints, q, gripper=0.02)
    msg = io.arm_msg(cmd, 0.05)
    assert isinstance(msg, io.arm_class())
    back = io.arm_from_msg(msg)
    np.testing.assert_allclose(back.positions[-1], q)
    g = robot.gripper
    if g is None or g.command_topic is None:
        assert io.gripper_topic is None and io.gripper_msg(cmd) is None
    else:
        assert io.gripper_topic == g.command_topic and io.gripper_type == FLOAT64_MULTI_ARRAY
        assert io.gripper_from_msg(io.gripper_msg(cmd)) == pytest.approx(0.02)
        assert io.gripper_msg(JointCommand(0.0, robot.arm_joints, q)) is None


def test_only_command_io_chooses_the_command_type():
    # Issue 15: the choice was written three times (the DDS sink and endpoint, the rclpy sink).
    # The robot configs declare it (hardware/robots/); command_io is the one reader.
    offenders = []
    for path in sorted(HARDWARE.rglob("*.py")):
        if path.parent.name == "robots" or path.name == "command_io.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "command_type":
                offenders.append(f"{path.relative_to(HARDWARE)}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id == "JOINT_TRAJECTORY":
                offenders.append(f"{path.relative_to(HARDWARE)}:{node.lineno}")
    assert not offenders, f"command type chosen outside hardware/ros/command_io.py: {offenders}"


def test_reward_encoder_without_reward_is_refused_in_the_callers_spelling(panda):
    assert reward_hook_from(None, None, robot=panda) is None
    assert reward_hook_from("", "", robot=panda) is None
    with pytest.raises(ValueError, match="reward_encoder needs reward"):
        reward_hook_from("", "prm.pt", robot=panda)
    with pytest.raises(ValueError, match="--reward-encoder needs --reward"):
        reward_hook_from(None, "prm.pt", robot=panda, spelled=("--reward", "--reward-encoder"))
