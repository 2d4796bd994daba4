"""One typed launch config for the rclpy node's parameters and robopref bridge's flags."""

import ast
from pathlib import Path

import pytest

from hardware.ros.bridge_cli import build_parser
from hardware.ros.launch_config import LaunchConfig

NODE_DEFAULTS = {
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


def test_node_defaults_here_are_the_nodes():
    source = Path(__file__).resolve().parents[2] / "hardware" / "ros" / "rclpy_node.py"
    literals = [
        ast.literal_eval(n.value)
        for n in ast.walk(ast.parse(source.read_text()))
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Dict) and n.value.keys
    ]
    assert NODE_DEFAULTS in literals


def test_node_defaults_and_cli_defaults_mean_the_same_session():
    node = LaunchConfig.from_node_parameters(NODE_DEFAULTS)
    cli = LaunchConfig.from_args(build_parser().parse_args([]))
    assert cli == LaunchConfig()
    assert node == LaunchConfig(control_hz=20.0)


def test_node_parameters_and_flags_give_equal_configs():
    params = dict(
        NODE_DEFAULTS,
        robot="ur5e",
        policy="reach",
        policy_kwargs='{"goal": [0.4, 0.0, 0.3]}',
        task="panda-reach",
        cameras="front,wrist",
        control_hz=10.0,
        max_steps=50,
        episode_dir="/tmp/eps",
        reward="r.rpe",
        reward_encoder="prm.pt",
        log_success="off",
    )
    argv = [
        "--robot=ur5e",
        "--policy=reach",
        '--policy-kwargs={"goal": [0.4, 0.0, 0.3]}',
        "--task=panda-reach",
        "--cameras=front,wrist",
        "--control-hz=10",
        "--max-steps=50",
        "--episode-dir=/tmp/eps",
        "--reward=r.rpe",
        "--reward-encoder=prm.pt",
        "--log-success=off",
    ]
    node = LaunchConfig.from_node_parameters(params)
    assert node == LaunchConfig.from_args(build_parser().parse_args(argv))
    assert node.cameras == ("front", "wrist") and node.policy_kwargs == {"goal": [0.4, 0.0, 0.3]}
    config = node.bridge_config({"task": "panda-reach", "cameras": node.cameras})
    assert (config.control_hz, config.max_steps, config.episode_dir) == (10.0, 50, "/tmp/eps")
    assert node.log_success is False and config.log_success is False


@pytest.mark.parametrize(("spelled", "value"), [("auto", None), ("on", True), ("off", False)])
def test_log_success_reaches_the_bridge_config(spelled, value):
    node = LaunchConfig.from_node_parameters(dict(NODE_DEFAULTS, log_success=spelled))
    cli = LaunchConfig.from_args(build_parser().parse_args([f"--log-success={spelled}"]))
    assert node.log_success is cli.log_success is value
    assert node.bridge_config({}).log_success is value


def test_bad_settings_name_the_value():
    with pytest.raises(
        ValueError, match=r"log_success: 'yes' is not one of \['auto', 'on', 'off'\]"
    ):
        LaunchConfig.from_node_parameters(dict(NODE_DEFAULTS, log_success="yes"))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-success=yes"])
    with pytest.raises(ValueError, match="control_hz must be > 0, got 0"):
        LaunchConfig(control_hz=0)
    with pytest.raises(ValueError, match="max_steps"):
        LaunchConfig(max_steps=-3)
    with pytest.raises(ValueError, match="JSON object"):
        LaunchConfig.from_node_parameters(dict(NODE_DEFAULTS, policy_kwargs="[1]"))
