"""Parts of the PEBBLE loop on their own: the per-step reward, state entropy, critic reset,
the proprio-only state, and the benchmark's side-by-side curves."""

from __future__ import annotations

import csv
import json
import warnings

import gymnasium
import numpy as np
import pytest
import torch

from robopref.benchmarks.train import curves
from robopref.rewards.preference import PreferenceRewardConfig, PreferenceRewardModel
from robopref.rl.buffer import RelabelingReplayBuffer
from robopref.rl.env import StepReward, make_train_env
from robopref.rl.pebble import METRIC_FIELDS, StateEntropyReward, reset_critic
from robopref.runs import RunPaths


def test_the_step_reward_runs_the_refit_head_in_the_c_evaluator():
    model = PreferenceRewardModel(5, 4, PreferenceRewardConfig(hidden=(16,), ensemble_size=3))
    step = StepReward()
    assert step(np.zeros(5, np.float32), np.zeros(4, np.float32)) == 0.0  # no model yet
    step.update(model)
    assert step._evaluator is not None and step._evaluator.backend == "c"
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=(20, 5)).astype(np.float32), rng.normal(size=(20, 4)).astype(np.float32)
    want = model.reward(s, a)[0]
    got = [step(s[i], a[i]) for i in range(20)]
    np.testing.assert_allclose(got, want, atol=1e-5)


def _without_c_build(monkeypatch):
    from robopref.evaluator import Evaluator
    from robopref.rl import env as env_module

    def missing(*args, **kwargs):
        raise ImportError("No module named 'robopref.evaluator._evaluator'")

    monkeypatch.setattr(Evaluator, "from_bytes", missing)
    monkeypatch.setattr(env_module, "_warned_no_c", False)


def test_without_the_c_build_the_torch_model_answers_after_one_warning(monkeypatch):
    _without_c_build(monkeypatch)
    monkeypatch.delenv("ROBOPREF_REQUIRE_C", raising=False)
    model = PreferenceRewardModel(5, 4, PreferenceRewardConfig(hidden=(16,), ensemble_size=3))
    step = StepReward()
    with pytest.warns(RuntimeWarning, match="C reward evaluator is not built"):
        step.update(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second refit does not warn again
        step.update(model)
    assert step._evaluator is None
    s, a = np.ones((1, 5), np.float32), np.ones((1, 4), np.float32)
    assert step(s[0], a[0]) == pytest.approx(float(model.reward(s, a)[0][0]), abs=1e-6)


def test_without_the_c_build_training_fails_when_c_is_required(monkeypatch):
    _without_c_build(monkeypatch)
    monkeypatch.setenv("ROBOPREF_REQUIRE_C", "1")
    model = PreferenceRewardModel(5, 4, PreferenceRewardConfig(hidden=(16,), ensemble_size=3))
    with pytest.raises(RuntimeError, match="ROBOPREF_REQUIRE_C=1.*make setup"):
        StepReward().update(model)


def _filled_buffer(n=60, dim=3, seed=0):
    space = gymnasium.spaces.Dict({"state": gymnasium.spaces.Box(-1, 1, (dim,), np.float32)})
    buf = RelabelingReplayBuffer(
        128, space, gymnasium.spaces.Box(-1, 1, (2,)), device="cpu", state_dim=dim
    )
    rng = np.random.default_rng(seed)
    for _ in range(n):
        s = rng.uniform(-1, 1, dim).astype(np.float32)
        buf.note(s, 0.0, 0.0)
        buf.add(
            {"state": s[None]}, {"state": s[None]}, np.zeros((1, 2)), np.zeros(1), np.zeros(1), [{}]
        )
    return buf


def test_state_entropy_is_the_kth_neighbour_distance_over_its_running_std():
    buf = _filled_buffer()
    reward = StateEntropyReward(buf, k=3, rng=np.random.default_rng(1), max_ref=1000)
    samples = buf.sample(16)
    got = reward(samples).numpy().ravel()
    x = samples.next_observations["state"].numpy()
    d = np.linalg.norm(x[:, None] - buf.pref_state[:60, 0][None], axis=-1)
    kth = np.sort(d, axis=1)[:, 3]  # index 0 is the state itself
    np.testing.assert_allclose(got, kth / kth.std(ddof=1), rtol=1e-4)
    assert samples.rewards.shape == reward(buf.sample(16)).shape


def test_reset_critic_forgets_the_critic_and_resyncs_its_target(tiny):
    from stable_baselines3 import SAC

    env, _ = make_train_env(tiny(), StepReward(), None, None, seed=0)
    model = SAC("MultiInputPolicy", env, policy_kwargs={"net_arch": [8]}, device="cpu")
    loss = sum(p.sum() for p in model.critic.parameters())
    loss.backward()
    model.critic.optimizer.step()  # Adam now holds moments: they must be dropped too
    assert model.critic.optimizer.state
    actor_before = [p.clone() for p in model.actor.parameters()]
    critic_before = [p.clone() for p in model.critic.parameters()]
    reset_critic(model)
    assert not any(torch.equal(p, q) for p, q in zip(critic_before, model.critic.parameters()))
    for p, q in zip(model.critic.parameters(), model.critic_target.parameters()):
        assert torch.equal(p, q)
    assert model.critic.optimizer.state == {}
    assert all(torch.equal(a, b) for a, b in zip(actor_before, model.actor.parameters()))


def test_proprio_state_is_what_a_real_robot_measures(tiny):
    full, _ = make_train_env(tiny(), StepReward(), None, None, seed=0)
    proprio, _ = make_train_env(tiny(**{"env.state": "proprio"}), StepReward(), None, None, seed=0)
    assert proprio.observation_space["state"].shape[0] < full.observation_space["state"].shape[0]


def _fake_run(root, returns):
    run = RunPaths.of(root).create()
    with open(run.metrics, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
        w.writeheader()
        for i, r in enumerate(returns):
            w.writerow(
                {k: 0 for k in METRIC_FIELDS} | {"env_steps": 1000 * (i + 1), "true_return": r}
            )
    run.summary.write_text(json.dumps({"true_return": returns[-1], "success_rate": None}))
    return str(run.root)


def test_curves_line_runs_up_at_common_steps_and_give_the_final_ratio(tmp_path):
    a = _fake_run(tmp_path / "sac", [10.0, 20.0, 40.0])
    b = _fake_run(tmp_path / "pebble", [5.0, 10.0])
    rows = curves([a, b])
    assert rows[0]["env_steps"] == rows[1]["env_steps"] == [1000, 2000]
    assert rows[0]["true_return"] == [10.0, 20.0] and rows[1]["true_return"] == [5.0, 10.0]
    assert rows[-1]["final_return_ratio"] == {a: 1.0, b: pytest.approx(0.25)}


def test_the_conservative_step_reward_subtracts_k_spreads():
    model = PreferenceRewardModel(5, 4, PreferenceRewardConfig(hidden=(16,), ensemble_size=3))
    step = StepReward(conservative_k=2.0)
    step.update(model)
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=(20, 5)).astype(np.float32), rng.normal(size=(20, 4)).astype(np.float32)
    mean, spread = model.reward(s, a)
    assert (spread > 0).all()
    np.testing.assert_allclose([step(s[i], a[i]) for i in range(20)], mean - 2 * spread, atol=1e-4)


def test_reset_of_a_jax_critic_keeps_the_actor(tiny):
    import jax

    from robopref.rl.rlpd import RLPD

    env, _ = make_train_env(tiny(), StepReward(), None, None, seed=0)
    model = RLPD("MultiInputPolicy", env, policy_kwargs={"net_arch": [8]}, seed=0)
    model.policy.qf_state = model.policy.qf_state.replace(
        params=jax.tree_util.tree_map(lambda p: p + 1.0, model.policy.qf_state.params)
    )
    actor = model.policy.actor_state
    critic = model.policy.qf_state.params
    reset_critic(model)
    leaves = jax.tree_util.tree_leaves
    new = model.policy.qf_state
    assert not any(np.allclose(a, b) for a, b in zip(leaves(critic), leaves(new.params)))
    assert all(np.array_equal(a, b) for a, b in zip(leaves(new.params), leaves(new.target_params)))
    assert model.policy.actor_state is actor


def test_a_refit_runs_on_its_threads_and_gives_them_back(tiny, monkeypatch):
    import torch

    from robopref.rewards.preference import PreferenceRewardModel
    from robopref.rl import pebble
    from robopref.rl.train import train

    seen = []
    original = PreferenceRewardModel.train

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PreferenceRewardModel, "train", spy)
    train(tiny(steps=160, **{"pebble.refit_threads": 2, "learner.threads": 1}))
    assert seen and set(seen) == {2}
    assert torch.get_num_threads() == 1  # back to learner.threads for the per-step reward
    assert pebble.usable_cores() >= 1
