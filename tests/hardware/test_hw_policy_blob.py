"""An exported policy blob as the bridge's policy (``--policy-blob``): closed-loop steps on
the MuJoCo stand-in with the learner's own actions, the checks against the robot, refused
blobs, and a deployment that never imports torch, SB3 or JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from learner_stubs import SpacesOnly

from hardware.core.bridge import Bridge, BridgeConfig, BridgeStatus
from hardware.core.observation import state_dim
from hardware.policies.blob import PolicyBlobMismatchError
from hardware.robots import get_robot
from hardware.ros.bridge_cli import build_parser, load_bridge_policy
from hardware.standin.sim_robot import InProcessLink, run_closed_loop
from robopref.evaluator import BlobFormatError
from sim.env import state_layout

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "stable_baselines3", "sbx", "jax", "flax", "robopref.rl")


def make_run(root: Path, state: str = "proprio", size: int = state_dim(7)):
    """A run directory with a tiny SB3 SAC checkpoint, its actor's weights randomized."""
    import torch
    from stable_baselines3 import SAC

    obs = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)})
    act = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    model = SAC(
        "MultiInputPolicy",
        SpacesOnly(obs, act),
        policy_kwargs={"net_arch": [16, 16]},
        buffer_size=10,
        device="cpu",
        seed=0,
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights that move the arm visibly, not SB3's near-zero init
        for p in model.policy.actor.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) / max(1, p.shape[-1]) ** 0.5)
    ckpt = root / "checkpoints" / "ckpt-0000000000"
    ckpt.mkdir(parents=True)
    model.save(ckpt / "model.zip")
    (root / "checkpoints" / "latest").write_text("ckpt-0000000000\n")
    config = {"task": "panda-reach", "learner": {"algo": "sac"}, "env": {"state": state}}
    (root / "config.json").write_text(json.dumps(config))
    return root, model


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """Policy blobs made by the export command's code path, and the model behind one."""
    from robopref.rl.export_policy import export_run_policy

    root = tmp_path_factory.mktemp("blobs")
    run, model = make_run(root / "proprio")
    full, _ = make_run(root / "full", state="full", size=40)
    return {
        "proprio": export_run_policy(run, root / "proprio.rpe"),
        "full": export_run_policy(full, root / "full.rpe"),
        "model": model,
        "root": root,
    }


def _policy(blob, robot="panda_mujoco", *extra):
    args = build_parser().parse_args(["--robot", robot, "--policy-blob", str(blob), *extra])
    return load_bridge_policy(args, get_robot(robot))


def test_blob_policy_drives_the_stand_in_with_the_learners_actions(blobs, stand_in, clock):
    robot = get_robot("panda_mujoco")
    policy, fixed = _policy(blobs["proprio"])
    assert fixed == {"task": "panda-reach", "cameras": (), "image_size": 84}
    stand_in.reset(seed=2)
    config = BridgeConfig(**fixed, source="bridge", backend="mujoco", max_steps=15)
    link = InProcessLink(stand_in, config.period)
    bridge = Bridge(robot, policy, link, config=config, clock=clock)
    with bridge:
        bridge.start()
        results = run_closed_loop(stand_in, bridge, clock, link, max_seconds=3.0)
    ok = [r for r in results if r.status is BridgeStatus.OK]
    assert len(ok) >= 12, [r.reasons for r in results]
    ep = bridge.last_episode
    assert ep.metadata["stop_reason"] == "max_steps"
    # Every recorded action is the SB3 model's own deterministic one at the recorded state.
    want, _ = blobs["model"].predict({"state": ep.state[: ep.length]}, deterministic=True)
    assert np.abs(ep.action - want).max() <= 1e-5
    assert np.abs(ep.action).max() > 0.05  # the policy moved the arm: not a hold
    q = np.array([r.command.positions for r in ok])
    assert np.abs(q[-1] - q[0]).max() > 1e-3


def test_a_blob_of_another_state_layout_is_refused_naming_both(blobs):
    with pytest.raises(PolicyBlobMismatchError) as e:
        _policy(blobs["full"])
    msg = str(e.value)
    assert repr(state_layout("full")) in msg and "(40 values" in msg
    assert repr(state_layout("proprio")) in msg and "panda_mujoco" in msg
    # The Panda's proprioception on a 6-joint arm: another layout, both named.
    with pytest.raises(PolicyBlobMismatchError) as e:
        _policy(blobs["proprio"], "ur5e")
    msg = str(e.value)
    assert repr(state_layout("proprio", "panda", 7)) in msg
    assert repr(state_layout("proprio", "ur5e", 6)) in msg


def test_corrupt_truncated_and_reward_blobs_are_refused(blobs, tmp_path):
    data = blobs["proprio"].read_bytes()
    bad = tmp_path / "flipped.rpe"
    bad.write_bytes(data[:60] + bytes([data[60] ^ 0x10]) + data[61:])
    with pytest.raises(BlobFormatError, match=r"flipped\.rpe: checksum"):
        _policy(bad)
    cut = tmp_path / "cut.rpe"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BlobFormatError, match=r"cut\.rpe: size mismatch.*truncated"):
        _policy(cut)
    from robopref.evaluator import export_blob
    from robopref.evaluator.heads import random_preference_head

    reward = export_blob(
        tmp_path / "reward.rpe", random_preference_head(np.random.default_rng(0), 18)
    )
    with pytest.raises(PolicyBlobMismatchError, match="holds no policy.*--reward"):
        _policy(reward)
    with pytest.raises(FileNotFoundError):
        _policy(tmp_path / "missing.rpe")


def test_policy_blob_excludes_run_and_policy(blobs):
    for extra in (["--policy", "reach"], ["--run", "runs/x"], ["--policy-kwargs", '{"a": 1}']):
        with pytest.raises(ValueError, match="gives the policy"):
            _policy(blobs["proprio"], "panda_mujoco", *extra)


def test_bridge_command_exits_with_a_usage_error_on_a_misfit_blob(blobs, capsys):
    from hardware.ros.bridge_cli import main

    with pytest.raises(SystemExit) as e:
        main(["--robot", "ur5e", "--policy-blob", str(blobs["full"])])
    assert e.value.code == 2
    assert "panda full" in capsys.readouterr().err


@pytest.mark.subprocess
def test_deployment_with_a_policy_blob_imports_no_learner(blobs):
    # The command line's own policy loading and a closed-loop episode on the stand-in, in a
    # fresh interpreter: afterwards neither torch, SB3, SBX, JAX nor robopref.rl is loaded.
    code = f"""
import sys
from hardware.core.bridge import Bridge, BridgeConfig, BridgeStatus
from hardware.ros.bridge_cli import build_parser, load_bridge_policy
from hardware.core.clock import FakeClock
from hardware.robots import get_robot
from hardware.standin.sim_robot import InProcessLink, SimRobot, run_closed_loop

robot = get_robot("panda_mujoco")
blob = {str(blobs["proprio"])!r}
args = build_parser().parse_args(["--robot", robot.name, "--policy-blob", blob])
policy, fixed = load_bridge_policy(args, robot)
stand_in = SimRobot("panda-reach", seed=0, cameras=())
clock = FakeClock(100.0)
config = BridgeConfig(**fixed, source="bridge", backend="mujoco", max_steps=8)
link = InProcessLink(stand_in, config.period)
bridge = Bridge(robot, policy, link, config=config, clock=clock)
with bridge:
    bridge.start()
    results = run_closed_loop(stand_in, bridge, clock, link, max_seconds=2.0)
ok = sum(r.status is BridgeStatus.OK for r in results)
print(ok, sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    env = {**os.environ, "MUJOCO_GL": "egl", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    ok, loaded = r.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(ok) >= 6 and loaded == "[]", r.stdout
