"""The composite reward wrapper and the relabelling replay buffer, without a learner."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import sim
from robopref.rl.buffer import RelabelingReplayBuffer
from robopref.rl.env import CompositeReward, NonFiniteTermError, StepReward, make_train_env


class _FakePref:
    """A preference model whose reward is a known function of state and action."""

    obs_dim = 0

    def __init__(self, value=None):
        self.value = value

    def reward(self, s, a):
        r = s.sum(1) * 0.1 + a.sum(1) if self.value is None else np.full(len(s), self.value)
        return r.astype(np.float32), np.zeros(len(s), np.float32)


class _TorchOnly(StepReward):
    def update(self, model):  # skip the evaluator export: the fake has no numpy head
        self.model, self._evaluator = model, None


def test_every_term_is_logged_and_summed(tiny):
    config = tiny(reward="sparse+pref+prm", task_weight=2.0)
    step_reward = _TorchOnly()
    step_reward.update(_FakePref())
    episodes = []
    env, composite = make_train_env(config, step_reward, lambda obs: 0.25, episodes.append, seed=0)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"state"}  # the policy sees the state; the frames fed the potential
    action = np.full(4, 0.1, np.float32)
    state_before = composite._obs["state"]
    _, total, _, _, info = env.step(action)
    pref = float(state_before.sum() * 0.1 + action.sum())
    assert info["reward/pref"] == pytest.approx(pref, rel=1e-5)
    assert info["reward/shaping"] == pytest.approx(0.99 * 0.25 - 0.25)
    assert total == pytest.approx(2.0 * info["reward/task"] + pref + info["reward/shaping"])
    assert info["reward/total"] == total
    done = False
    while not done:
        *_, term, trunc, _ = env.step(action)
        done = term or trunc
    assert len(episodes) == 1 and episodes[0].length == composite.env_steps
    assert episodes[0].progress is not None  # the scripted teacher's signal came along


def test_a_nan_term_names_the_term_and_the_step(tiny):
    step_reward = _TorchOnly()
    step_reward.update(_FakePref(value=float("nan")))
    env, _ = make_train_env(tiny(), step_reward, None, None, seed=0)
    env.reset(seed=0)
    with pytest.raises(NonFiniteTermError, match="'pref' became nan at env step 1"):
        env.step(np.zeros(4, np.float32))


def test_unwrapped_terms_default_to_zero_without_shaping():
    base = sim.make("panda-reach", cameras=())
    env = CompositeReward(base, 1.0, 0.0, StepReward(), False, None, {"task": "panda-reach"})
    env.reset(seed=1)
    _, r, _, _, info = env.step(np.zeros(4, np.float32))
    assert info["reward/shaping"] == 0.0 and info["reward/pref"] == 0.0
    assert r == info["reward/task"]


def _buffer(n=40, dim=3, seed=0):
    space = gymnasium.spaces.Dict({"state": gymnasium.spaces.Box(-1, 1, (dim,), np.float32)})
    act = gymnasium.spaces.Box(-1, 1, (2,), np.float32)
    buf = RelabelingReplayBuffer(64, space, act, device="cpu", state_dim=dim)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        s = rng.uniform(-1, 1, dim).astype(np.float32)
        a = rng.uniform(-1, 1, (1, 2)).astype(np.float32)
        task, shaping = float(rng.random() < 0.2), float(rng.normal())
        buf.note(s, task, shaping)
        buf.add({"state": s[None]}, {"state": s[None]}, a, np.array([9.0]), np.array([0.0]), [{}])
    return buf


def test_relabelling_rewrites_every_stored_reward():
    buf = _buffer()
    before = buf.rewards[:40, 0].copy()
    n = buf.relabel(lambda s, a: s.sum(1) * 0.1 + a.sum(1), task_weight=2.0, pref_weight=0.5)
    assert n == 40
    want = (
        2.0 * buf.task[:40, 0]
        + buf.shaping[:40, 0]
        + 0.5 * (buf.pref_state[:40, 0].sum(1) * 0.1 + buf.actions[:40, 0].sum(1))
    )
    np.testing.assert_allclose(buf.rewards[:40, 0], want, rtol=1e-5)
    assert not np.allclose(before, buf.rewards[:40, 0])
    assert (buf.rewards[40:, 0] == 0).all()  # unused slots untouched


def test_relabelling_refuses_a_non_finite_model():
    buf = _buffer()
    with pytest.raises(ValueError, match="not finite"):
        buf.relabel(lambda s, a: np.full(len(s), np.inf), 1.0, 1.0)


def test_sample_reward_hook_replaces_only_sampled_rewards():
    buf = _buffer()
    buf.sample_reward = lambda samples: samples.rewards * 0 + 7
    assert (buf.sample(8).rewards == 7).all()
    assert (buf.rewards[:40, 0] == 9.0).all()  # stored rewards are not touched
    import pickle

    clone = pickle.loads(pickle.dumps(buf))
    assert clone.sample_reward is None  # the hook is the trainer's; it is not saved
    np.testing.assert_array_equal(clone.task, buf.task)


def test_demonstrations_are_half_of_every_minibatch_and_are_relabelled_too():
    online, demos = _buffer(), _buffer(seed=1)
    demos.rewards[:40, 0] = -5.0  # tell the two apart by reward
    online.attach_demos(demos, 0.5)
    rewards = online.sample(64).rewards[:, 0].numpy()
    assert (rewards == -5.0).sum() == 32 and (rewards == 9.0).sum() == 32
    online.relabel(lambda s, a: np.zeros(len(s)), task_weight=1.0, pref_weight=1.0)
    np.testing.assert_allclose(demos.rewards[:40, 0], demos.task[:40, 0] + demos.shaping[:40, 0])
    with pytest.raises(ValueError, match="demo fraction"):
        online.attach_demos(demos, 1.0)
    empty = _buffer(n=0)
    with pytest.raises(ValueError, match="empty"):
        online.attach_demos(empty, 0.5)


def test_each_update_of_a_multi_update_batch_gets_its_own_half_of_demonstrations():
    # SBX slices one batch into consecutive updates: each slice must be half and half,
    # not all online data first and all demonstrations last.
    online, demos = _buffer(), _buffer(seed=1)
    demos.rewards[:40, 0] = -5.0
    online.attach_demos(demos, 0.5)
    rewards = online.sample_updates(16, updates=3).rewards[:, 0].numpy()
    assert rewards.shape == (48,)
    for update in rewards.reshape(3, 16):
        assert (update == -5.0).sum() == 8 and (update == 9.0).sum() == 8


def test_recent_replay_draws_its_share_from_the_newest_transitions():
    buf = _buffer(n=60)  # a ring of 64: the newest 10 are the slots just before pos (60)
    buf.rewards[:60, 0] = np.arange(60)  # a transition's reward is its age order
    buf.recent(0.5, steps=10)
    np.random.seed(0)  # noqa: NPY002 (SB3 samples with the global RNG)
    rewards = buf.sample(200).rewards[:, 0].numpy()
    uniform, recent = rewards[:100], rewards[100:]
    assert recent.min() >= 50 and recent.max() <= 59 and len(set(recent)) > 5
    assert uniform.min() < 50  # the rest is still drawn from the whole buffer
    with pytest.raises(ValueError, match="recent replay"):
        buf.recent(1.0, steps=10)
    with pytest.raises(ValueError, match="recent replay"):
        buf.recent(0.5, steps=0)


def test_recent_replay_wraps_around_the_ring():
    buf = _buffer(n=70)  # 70 adds to a ring of 64: pos is 6, the newest are 0..5 and 60..63
    buf.rewards[:, 0] = np.arange(64)
    buf.recent(0.5, steps=8)
    rewards = set(buf.sample(400).rewards[200:, 0].numpy().tolist())
    assert rewards <= {62.0, 63.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0} and len(rewards) >= 6
