"""``robopref export --policy``: a run's actor in the C evaluator acts as the learner does.

Each learner (SB3 SAC, SB3 PPO, the rlpd learner on SBX) gets a tiny model whose weights are
randomized well away from their initialization (PPO's action layer starts at gain 0.01, so
near-zero means would hide a wrong map), saved as a run's checkpoint, then exported through
`export_run_policy` (the loader, the head and the blob writer of the command). The blob's
actions must be the loaded learner's own ``predict(obs, deterministic=True)`` within 1e-5 on
10,000 states, on the C kernels and on the NumPy twin.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from learner_stubs import SpacesOnly

from robopref.evaluator import Evaluator, read_blob
from robopref.rl.export_policy import export_run_policy, run_layout
from robopref.rl.policy import load_run_policy
from sim.env import OBJECT_DIM, PROPRIO_DIM, state_layout

STATES = 10_000
SCALE = 1.0  # weights N(0, SCALE^2 / fan_in): actions spread over the range, some saturated
# Asymmetric bounds, so SB3's unscale_action and PPO's clip are exercised per dimension.
LOW = np.array([-1.0, -2.0, -0.5, 0.0], np.float32)
HIGH = np.array([1.0, 0.5, 0.5, 3.0], np.float32)


def _randomize_torch(module, seed: int, scale: float) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale / max(1, p.shape[-1]) ** 0.5)


def _model(algo: str, obs_dim: int, normalize: bool):
    env = SpacesOnly(
        gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)}),
        gym.spaces.Box(LOW, HIGH, dtype=np.float32),
    )
    kw = {"policy_kwargs": {"net_arch": [32, 32]}, "seed": 0, "verbose": 0}
    if algo == "sac":
        from stable_baselines3 import SAC

        model = SAC("MultiInputPolicy", env, buffer_size=10, device="cpu", **kw)
        _randomize_torch(model.policy.actor, 1, SCALE)
    elif algo == "ppo":
        from stable_baselines3 import PPO

        model = PPO("MultiInputPolicy", env, n_steps=16, batch_size=16, device="cpu", **kw)
        _randomize_torch(model.policy, 2, SCALE)
    else:
        import jax

        from robopref.rl.rlpd import RLPD

        model = RLPD("MultiInputPolicy", env, buffer_size=10, normalize_obs=normalize, **kw)
        rng = np.random.default_rng(3)
        actor = model.policy.actor_state
        params = jax.tree_util.tree_map(
            lambda p: rng.normal(0, SCALE / max(1, p.shape[0]) ** 0.5, p.shape).astype(np.float32),
            actor.params,
        )
        model.policy.actor_state = actor.replace(params=params)
        if normalize:  # statistics far from zero mean and unit scale, one feature ~constant
            scale = rng.uniform(0.5, 4, obs_dim)
            scale[0] = 1e-4  # its std goes under the floor (MIN_STD)
            for _ in range(3):
                rows = rng.normal(5.0, 0.3, (50, obs_dim)) * scale
                model.observe({"state": rows.astype(np.float32)})
    return model


def make_run(root, algo: str, obs_dim: int = PROPRIO_DIM, normalize: bool = False, **config):
    """A run directory (robopref.runs layout) whose checkpoint is a randomized tiny model."""
    model = _model(algo, obs_dim, normalize)
    ckpt = root / "checkpoints" / "ckpt-0000000000"
    ckpt.mkdir(parents=True)
    model.save(ckpt / "model.zip")
    (root / "checkpoints" / "latest").write_text("ckpt-0000000000\n")
    base = {"task": "panda-reach", "learner": {"algo": algo}, "env": {"state": "proprio"}}
    (root / "config.json").write_text(json.dumps({**base, **config}))
    return root


def states(n: int, obs_dim: int, seed: int = 0, far: bool = False) -> np.ndarray:
    """States around zero and around a normalized run's statistics (a Panda's joint angles,
    velocities and TCP stay within a few units); with ``far``, every 50th is 20 times further
    out, beyond the clip of a normalized run. (An unnormalized actor fed such inputs of
    ~100 has pre-activations in the hundreds, where float32 sums in another order differ by
    about 1e-5: measured 1.1e-5 for SAC.)"""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2.0, (n, obs_dim))
    x[: n // 2] = rng.normal(5.0, 2.0, (n // 2, obs_dim))
    if far:
        x[::50] *= 20
    return x.astype(np.float32)


@pytest.mark.parametrize(
    "algo, normalize", [("sac", False), ("ppo", False), ("rlpd", False), ("rlpd", True)]
)
def test_exported_actor_acts_as_the_learner_on_10000_states(tmp_path, algo, normalize):
    run = make_run(tmp_path / "run", algo, normalize=normalize)
    blob = export_run_policy(run, tmp_path / "policy.rpe")
    model = load_run_policy(run).model  # the learner's own, loaded as `robopref eval` does
    s = states(STATES, PROPRIO_DIM, far=normalize)
    want, _ = model.predict({"state": s}, deterministic=True)
    assert want.shape == (STATES, 4)
    # The actions cover the range: saturated (PPO's clip, tanh near +-1) and interior.
    assert np.isclose(want, LOW, atol=1e-3).any() and np.isclose(want, HIGH, atol=1e-3).any()
    assert (np.abs(want - (LOW + HIGH) / 2) < 0.25 * (HIGH - LOW)).mean() > 0.05
    for backend in ("c", "numpy"):
        ev = Evaluator.load(blob, backend=backend)
        got = ev.action_batch(s)
        assert np.abs(got - want).max() <= 1e-5, (backend, np.abs(got - want).max())
        one = ev.action(s[7])
        assert np.abs(one - want[7]).max() <= 1e-5
    info = Evaluator.load(blob).info["policy"]
    assert info["algo"] == algo and info["task"] == "panda-reach" and info["robot"] == "panda"
    assert info["layout"] == state_layout("proprio", "panda", 7)
    assert info["output"] == ("clip" if algo == "ppo" else "tanh")
    assert info["obs_clip"] == (10.0 if normalize else 0.0)
    assert info["activation"] == ("tanh" if algo == "ppo" else "relu")  # each learner's default


def test_normalization_is_what_makes_the_rlpd_actions(tmp_path):
    # The statistics matter: the same actor without them acts otherwise (so the parity above
    # with normalize=True checks the preprocessing, not only the MLP).
    run = make_run(tmp_path / "run", "rlpd", normalize=True)
    head = read_blob(export_run_policy(run, tmp_path / "p.rpe")).policy
    assert np.abs(head["obs_mean"]).max() > 1 and head["obs_std"].min() == pytest.approx(0.01)
    bare = {**head, "obs_mean": np.zeros(PROPRIO_DIM), "obs_std": np.ones(PROPRIO_DIM)}
    from robopref.evaluator.blob import encode_blob

    s = states(200, PROPRIO_DIM)
    with_stats = Evaluator.load(tmp_path / "p.rpe").action_batch(s)
    without = Evaluator.from_bytes(encode_blob(policy=bare)).action_batch(s)
    assert np.abs(with_stats - without).max() > 0.1


def test_full_state_run_carries_the_full_layout(tmp_path):
    run = make_run(tmp_path / "run", "sac", obs_dim=PROPRIO_DIM + OBJECT_DIM, env={})
    info = Evaluator.load(export_run_policy(run, tmp_path / "p.rpe")).info["policy"]
    # No env.state in the config: the mode whose size fits.
    assert info["layout"] == state_layout("full") and info["obs_dim"] == 40


def test_layouts_of_runs():
    assert run_layout("panda-push", "proprio", 18) == (state_layout("proprio"), "panda")
    assert run_layout("dmc:walker-walk", None, 24) == ("dmc:walker-walk state[24]", "")
    with pytest.raises(ValueError, match=r"state of 18 values.*'full'"):
        run_layout("panda-push", "full", 18)
    with pytest.raises(ValueError, match="state of 5 values"):
        run_layout("panda-push", None, 5)


def test_pixel_runs_and_unknown_learners_are_refused(tmp_path):
    pixels = tmp_path / "pixels"
    pixels.mkdir()
    (pixels / "config.json").write_text(
        json.dumps({"task": "panda-reach", "learner": {"algo": "sac", "policy_input": "pixels"}})
    )
    with pytest.raises(ValueError, match="pixel.*torch path.*--run"):
        export_run_policy(pixels, tmp_path / "p.rpe")
    from robopref.rl.export_policy import policy_head

    model = _model("sac", PROPRIO_DIM, False)
    with pytest.raises(ValueError, match="unknown learner 'td3'"):
        policy_head(model, "td3", "panda-reach", state_layout(), "panda")
    camera = SpacesOnly(
        gym.spaces.Dict(
            {
                "front": gym.spaces.Box(0, 255, (36, 36, 3), np.uint8),
                "state": gym.spaces.Box(-1, 1, (PROPRIO_DIM,), np.float32),
            }
        ),
        gym.spaces.Box(-1, 1, (4,), np.float32),
    )
    from stable_baselines3 import SAC

    cnn = SAC("MultiInputPolicy", camera, buffer_size=10, device="cpu")
    with pytest.raises(ValueError, match=r"observes \['front', 'state'\].*torch path"):
        policy_head(cnn, "sac", "panda-reach", state_layout(), "panda")
    assert not (tmp_path / "p.rpe").exists()


def test_export_command_writes_a_policy_blob(tmp_path, capsys):
    from robopref.cli import main

    run = make_run(tmp_path / "run", "ppo")
    out = tmp_path / "policy.rpe"
    assert main(["export", "--policy", str(run), "--out", str(out)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["out"] == str(out) and line["bytes"] == out.stat().st_size
    assert line["info"]["policy"]["algo"] == "ppo" and line["info"]["preference"] is None
    args = [
        "export",
        "--policy",
        str(run),
        "--preference",
        "p.pt",
        "--out",
        str(tmp_path / "x.rpe"),
    ]
    assert main(args) == 2
    assert "policy alone" in capsys.readouterr().err and not (tmp_path / "x.rpe").exists()
    assert main(["export", "--policy", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "no run directory" in capsys.readouterr().err
