"""Corrections during training: the scripted expert takes over where the policy stalls
(`robopref.rl.interventions`), the buffer keeps the executed action, the budget holds."""

from __future__ import annotations

import json
import pickle

import gymnasium
import numpy as np
import pytest

from robopref.rl.buffer import RelabelingReplayBuffer
from robopref.rl.config import ConfigError, InterventionConfig, load_config
from robopref.rl.interventions import (
    INFO_INTERVENTION,
    INFO_INTERVENTION_PENALTY,
    ScriptedIntervention,
    scaled_action,
)

EXPERT_ACTION = np.array([0.5, -0.5, 0.25, 1.0], np.float32)


class ScriptedProgress(gymnasium.Env):
    """An env whose progress follows ``progress[t]`` and that records the actions it gets;
    success when progress reaches 1."""

    observation_space = gymnasium.spaces.Dict(
        {"state": gymnasium.spaces.Box(-1, 1, (3,), np.float32)}
    )
    action_space = gymnasium.spaces.Box(-1, 1, (4,), np.float32)

    def __init__(self, progress):
        self.progress = list(progress)
        self.actions: list[np.ndarray] = []
        self.t = 0

    def _info(self):
        p = self.progress[min(self.t, len(self.progress) - 1)]
        return {"progress": p, "success": p >= 1.0, "privileged": {"t": self.t}}

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return {"state": np.zeros(3, np.float32)}, self._info()

    def step(self, action):
        self.actions.append(np.asarray(action))
        self.t += 1
        done = self.t >= len(self.progress) - 1
        return {"state": np.zeros(3, np.float32)}, 0.0, False, done, self._info()


def expert(obs, info):
    assert "privileged" in info  # it reads the state the step before handed over
    return EXPERT_ACTION


def run(env, steps, **config):
    wrapper = ScriptedIntervention(env, expert, InterventionConfig(**config))
    wrapper.reset()
    infos = [wrapper.step(np.zeros(4, np.float32))[4] for _ in range(steps)]
    return wrapper, infos


def intervened(infos):
    return [INFO_INTERVENTION in info for info in infos]


def test_the_expert_takes_over_after_a_stall_for_length_steps_and_hands_back():
    env = ScriptedProgress([0.0] * 40)  # the policy never moves on
    wrapper, infos = run(env, 30, budget=100, stall_steps=5, length=3, stall_progress=0.02)
    flags = intervened(infos)
    # Steps 1-5 fill the window (6 progress readings), the expert drives steps 6-8, then
    # the policy gets a full window again (steps 9-13) before the next takeover (14-16).
    assert flags[:5] == [False] * 5
    assert flags[5:8] == [True] * 3
    assert flags[8:13] == [False] * 5
    assert flags[13:16] == [True] * 3
    assert wrapper.counts.intervention_takeovers == 4  # at steps 6, 14, 22 and 30
    assert wrapper.counts.intervention_steps == sum(flags) == 10
    for action, flag, info in zip(env.actions, flags, infos, strict=True):
        expected = EXPERT_ACTION if flag else np.zeros(4)
        np.testing.assert_array_equal(action, expected)  # the env got the expert's action
        if flag:
            np.testing.assert_array_equal(info[INFO_INTERVENTION], EXPERT_ACTION)


def test_the_policys_step_into_a_takeover_pays_the_penalty():
    env = ScriptedProgress([0.0] * 40)
    wrapper = ScriptedIntervention(
        env, expert, InterventionConfig(budget=100, stall_steps=5, length=3, penalty=2.5)
    )
    wrapper.reset()
    steps = [wrapper.step(np.zeros(4, np.float32)) for _ in range(16)]
    rewards = [s[1] for s in steps]
    flags = intervened([s[4] for s in steps])
    # Takeovers at steps 6 and 14 (as above): steps 5 and 13 led into them.
    assert [i for i, r in enumerate(rewards) if r != 0.0] == [4, 12]
    assert rewards[4] == rewards[12] == -2.5
    assert steps[4][4][INFO_INTERVENTION_PENALTY] == 2.5 and flags[5] and not flags[4]
    assert not any(
        INFO_INTERVENTION_PENALTY in s[4] for i, s in enumerate(steps) if i != 4 and i != 12
    )
    # Without a penalty, the same run pays nothing and says nothing.
    _, infos = run(ScriptedProgress([0.0] * 40), 16, budget=100, stall_steps=5, length=3)
    assert not any(INFO_INTERVENTION_PENALTY in info for info in infos)


def test_no_penalty_where_no_takeover_follows():
    # The episode ends on the step the stall is found (no next step to take over), and the
    # budget is spent: the policy is not charged for a correction that never comes.
    ending = ScriptedProgress([0.0] * 7)  # truncated after step 6, the stall found there
    wrapper = ScriptedIntervention(
        ending, expert, InterventionConfig(budget=100, stall_steps=6, penalty=1.0)
    )
    wrapper.reset()
    assert [wrapper.step(np.zeros(4, np.float32))[1] for _ in range(6)] == [0.0] * 6
    spent = ScriptedIntervention(
        ScriptedProgress([0.0] * 60),
        expert,
        InterventionConfig(budget=3, stall_steps=5, length=3, penalty=1.0),
    )
    spent.reset()
    rewards = [spent.step(np.zeros(4, np.float32))[1] for _ in range(40)]
    assert rewards.count(-1.0) == 1 and spent.counts.intervention_steps == 3


def test_a_policy_that_makes_progress_is_left_alone():
    env = ScriptedProgress(np.linspace(0, 0.9, 40))  # 0.023 a step, 0.115 per 5 steps
    wrapper, infos = run(env, 35, budget=100, stall_steps=5)
    assert not any(intervened(infos)) and wrapper.counts.intervention_takeovers == 0


def test_a_policy_that_undoes_progress_is_stalled():
    env = ScriptedProgress([0.5 - 0.01 * t for t in range(40)])
    _, infos = run(env, 10, budget=100, stall_steps=5, length=2)
    assert intervened(infos)[5:7] == [True, True]


def test_the_budget_caps_the_steps_and_start_delays_them():
    env = ScriptedProgress([0.0] * 200)
    wrapper, infos = run(env, 150, budget=7, stall_steps=4, length=5)
    assert sum(intervened(infos)) == 7 == wrapper.counts.intervention_steps
    assert wrapper.counts.intervention_takeovers == 2  # 5 steps, then the 2 left
    env = ScriptedProgress([0.0] * 200)
    _, infos = run(env, 60, budget=100, stall_steps=4, length=5, start=30)
    assert not any(intervened(infos)[:30]) and intervened(infos)[30]


def test_the_expert_hands_back_once_the_task_is_solved():
    progress = [0.0] * 6 + [1.0] * 30
    env = ScriptedProgress(progress)
    _, infos = run(env, 30, budget=100, stall_steps=5, length=10)
    flags = intervened(infos)
    assert flags[5] and infos[5]["success"]  # the takeover's first step solved it
    assert not any(flags[6:])  # handed back, and a solved task is never taken over


def test_counts_can_be_the_loops_state_and_reset_clears_a_takeover():
    from robopref.rl.pebble import LoopState

    state = LoopState()
    env = ScriptedProgress([0.0] * 40)
    wrapper = ScriptedIntervention(env, expert, InterventionConfig(budget=50, stall_steps=2), state)
    wrapper.reset()
    for _ in range(3):
        wrapper.step(np.zeros(4, np.float32))
    assert state.intervention_steps == 1 and state.intervention_takeovers == 1
    wrapper.reset()
    info = wrapper.step(np.zeros(4, np.float32))[4]
    assert INFO_INTERVENTION not in info  # a new episode starts with the policy driving


def test_an_env_without_progress_is_a_clear_error():
    class NoProgress(ScriptedProgress):
        def _info(self):
            return {}

    with pytest.raises(ValueError, match="task progress and privileged state"):
        ScriptedIntervention(NoProgress([0.0]), expert, InterventionConfig(budget=5)).reset()
    with pytest.raises(RuntimeError, match="before reset"):
        ScriptedIntervention(ScriptedProgress([0.0]), expert, InterventionConfig()).step(None)


def _buffer(size, action_space):
    space = gymnasium.spaces.Dict({"state": gymnasium.spaces.Box(-1, 1, (3,), np.float32)})
    return RelabelingReplayBuffer(size, space, action_space, device="cpu", state_dim=3)


def _add(buffer, action, info, task=0.0):
    state = np.full((1, 3), task, np.float32)
    buffer.note(state[0], task, 0.5)
    buffer.add({"state": state}, {"state": state}, action[None], np.zeros(1), np.zeros(1), [info])


def test_the_buffer_stores_the_executed_action_and_copies_it_into_the_demos():
    space = gymnasium.spaces.Box(-1, 1, (4,), np.float32)
    online, demos = _buffer(10, space), _buffer(3, space)
    _add(demos, np.full(4, 0.9, np.float32), {})  # a scripted demonstration
    online.attach_demos(demos, 0.5)
    policy_action = np.zeros(4, np.float32)
    _add(online, policy_action, {}, task=1.0)  # the policy acted
    _add(online, policy_action, {INFO_INTERVENTION: EXPERT_ACTION}, task=2.0)
    np.testing.assert_array_equal(online.actions[0, 0], policy_action)
    np.testing.assert_array_equal(online.actions[1, 0], EXPERT_ACTION)
    assert demos.size() == 2  # the correction joined the demonstrations, terms and all
    np.testing.assert_array_equal(demos.actions[1, 0], EXPERT_ACTION)
    assert demos.task[1, 0] == 2.0 and demos.shaping[1, 0] == 0.5
    np.testing.assert_array_equal(demos.pref_state[1, 0], np.full(3, 2.0))
    for task in (3.0, 4.0, 5.0):  # room for one more; then the demos are never overwritten
        _add(online, policy_action, {INFO_INTERVENTION: EXPERT_ACTION}, task=task)
    assert demos.full and demos.size() == 3
    np.testing.assert_array_equal(demos.actions[0, 0], np.full(4, 0.9, np.float32))
    assert list(demos.task[:, 0]) == [0.0, 2.0, 3.0]
    assert online.size() == 5


def test_an_executed_action_is_scaled_to_the_buffers_units():
    space = gymnasium.spaces.Box(np.array([0, -2]), np.array([1, 2]), dtype=np.float32)
    info = {INFO_INTERVENTION: np.array([1.0, -1.0], np.float32)}
    np.testing.assert_allclose(scaled_action(info, space), [1.0, -0.5])
    assert scaled_action({}, space) is None


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"task": "dmc:walker-walk", "interventions.budget": 10}, "no scripted expert"),
        ({"learner.algo": "ppo", "interventions.budget": 10}, "use sac or rlpd"),
        ({"interventions.budget": -1}, "interventions.budget: must be >= 0"),
        ({"interventions.start": -1}, "interventions.start: must be >= 0"),
        ({"interventions.penalty": -1.0}, "interventions.penalty: must be >= 0"),
        ({"interventions.stall_steps": 0}, "interventions.stall_steps: must be >= 1"),
        ({"interventions.length": 0}, "interventions.length: must be >= 1"),
        ({"interventions.stall_progress": 0.0}, "interventions.stall_progress"),
    ],
)
def test_interventions_that_cannot_work_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=overrides)


@pytest.mark.slow
def test_a_run_with_interventions_counts_them_and_stores_the_experts_actions(tiny):
    from robopref.rl.train import train
    from robopref.runs import RunPaths

    config = tiny(
        **{
            "learner.algo": "rlpd",
            "interventions.budget": 40,
            "interventions.stall_steps": 5,
            "interventions.length": 10,
            "interventions.penalty": 3.0,
        },
        demos="1",
        steps=200,
        reward="sparse",
    )
    summary = train(config)
    run = RunPaths.of(summary["run"])
    saved = json.loads(run.summary.read_text())
    assert 0 < saved["intervention_steps"] <= 40
    assert saved["intervention_takeovers"] >= saved["intervention_steps"] / 10
    with open(run.latest_checkpoint() / "replay_buffer.pkl", "rb") as f:
        buffer = pickle.load(f)
    # One expert demonstration (a reach takes it ~10 steps), then the corrections.
    demos, used = buffer.demos, saved["intervention_steps"]
    assert demos.buffer_size == demos.size() + (40 - used)
    # The copied corrections are the reach expert's actions: its gripper stays open (1.0),
    # where the policy's early actions spread over [-1, 1].
    copies = demos.actions[demos.size() - used : demos.size(), 0]
    np.testing.assert_array_equal(copies[:, 3], np.ones(used, np.float32))
    online = buffer.actions[: buffer.size(), 0, 3]
    assert np.sum(online == 1.0) >= used and np.sum(online != 1.0) > 0
    # The policy's steps into takeovers keep their penalty in the buffer's fixed term and
    # in the (relabelled) reward: the sparse reach reward is 0 or 1, so -3 or -2 marks them.
    penalized = np.flatnonzero(buffer.shaping[: buffer.size(), 0] == -3.0)
    assert 1 <= len(penalized) <= saved["intervention_takeovers"]
    rewards = buffer.rewards[penalized, 0]
    np.testing.assert_allclose(rewards, buffer.task[penalized, 0] - 3.0)
    state = json.loads((run.latest_checkpoint() / "state.json").read_text())
    assert state["intervention_steps"] == saved["intervention_steps"]
    import csv

    with open(run.metrics, newline="") as f:
        rows = list(csv.DictReader(f))
    assert int(rows[-1]["intervention_steps"]) == saved["intervention_steps"]
    # The policy's own success counts a rescued episode as a failure: the reach expert
    # solves the task when it takes over, so training success runs ahead of it.
    own = [float(r["unassisted_success_rate"]) for r in rows]
    helped = [float(r["success_rate"]) for r in rows]
    assert all(o <= h for o, h in zip(own, helped)) and any(o < h for o, h in zip(own, helped))
    from robopref.benchmarks.results import summarize

    assert [row[1] for row in summarize(run.root)["unassisted_curve"]] == own
    # A resumed run goes on counting from the checkpoint, within the same budget.
    resumed = train(resume=str(run.root), overrides={"steps": 400})
    assert resumed["env_steps"] == 400
    again = json.loads(run.summary.read_text())
    assert used <= again["intervention_steps"] <= 40
    assert again["intervention_takeovers"] >= saved["intervention_takeovers"]
    with open(run.latest_checkpoint() / "replay_buffer.pkl", "rb") as f:
        demos = pickle.load(f).demos
    assert demos.buffer_size - demos.size() == 40 - again["intervention_steps"]


# ---------------------------------------------------------------- n-step returns
GAMMA = 0.9


def _nstep_buffer(size, n_steps=3):
    space = gymnasium.spaces.Dict({"state": gymnasium.spaces.Box(-9, 9, (1,), np.float32)})
    action_space = gymnasium.spaces.Box(-1, 1, (1,), np.float32)
    return RelabelingReplayBuffer(
        size, space, action_space, device="cpu", state_dim=1, n_steps=n_steps, gamma=GAMMA
    )


def _step(buffer, t, reward, done=False, truncated=False, info=None):
    """Stores the transition t -> t + 1 (states are the step numbers)."""
    buffer.add(
        {"state": np.array([[t]], np.float32)},
        {"state": np.array([[t + 1]], np.float32)},
        np.zeros((1, 1), np.float32),
        np.array([reward], np.float32),
        np.array([done]),
        [{"TimeLimit.truncated": truncated, **(info or {})}],
    )


def _at(buffer, rows):
    s = buffer._get_samples(np.asarray(rows))
    return (
        s.rewards.numpy()[:, 0],
        s.next_observations["state"].numpy()[:, 0],
        s.dones.numpy()[:, 0],
        s.discounts.numpy()[:, 0],
    )


def test_n_step_returns_stop_at_time_limits_terminations_and_the_newest_row():
    buffer = _nstep_buffer(20)
    for t, r in enumerate([1.0, 2.0, 3.0, 4.0]):  # an episode cut by its time limit
        _step(buffer, t, r, truncated=t == 3)
    for t, r in enumerate([10.0, 20.0, 30.0]):  # then one that terminates at its 2nd step
        _step(buffer, 100 + t, r, done=t == 1)
    rewards, next_states, dones, discounts = _at(buffer, [0, 2, 3, 4, 5, 6])
    g = GAMMA
    np.testing.assert_allclose(
        rewards, [1 + 2 * g + 3 * g * g, 3 + 4 * g, 4, 10 + 20 * g, 20, 30], rtol=1e-6
    )
    np.testing.assert_array_equal(next_states, [3, 4, 4, 102, 102, 103])
    # A time limit bootstraps (done 0), a termination does not; the newest row (6) has no
    # successor yet, so it is a one-step transition.
    np.testing.assert_array_equal(dones, [0, 0, 0, 1, 1, 0])
    np.testing.assert_allclose(discounts, [g**3, g**2, g, g**2, g, g], rtol=1e-6)


def test_one_step_buffers_sample_as_before():
    buffer = _nstep_buffer(10, n_steps=1)
    for t in range(4):
        _step(buffer, t, float(t))
    s = buffer._get_samples(np.array([0, 1]))
    assert s.discounts is None
    np.testing.assert_array_equal(s.rewards.numpy()[:, 0], [0.0, 1.0])


def test_demonstration_episodes_and_copied_corrections_keep_their_chains():
    online, demos = _nstep_buffer(30), _nstep_buffer(30)
    for t in range(3):  # a demonstration that ends neither terminated nor truncated
        demos.chain_end[demos.pos] = t == 2
        _step(demos, 200 + t, 1.0)
    online.attach_demos(demos, 0.5)
    corrected = {INFO_INTERVENTION: np.zeros(1, np.float32)}
    _step(online, 0, 5.0, info=corrected)  # two consecutive corrected steps
    _step(online, 1, 6.0, info=corrected)
    _step(online, 2, 7.0)  # the policy acts
    _step(online, 3, 8.0, info=corrected)  # a later correction: not the successor of step 1
    _step(online, 4, 0.0)
    assert demos.size() == 6
    rewards, next_states, _, discounts = _at(demos, [2, 3, 4])
    g = GAMMA
    # The demonstration's last step does not run on into the copies; the first copy runs
    # on into the second, which ends there (step 2 was not copied).
    np.testing.assert_allclose(rewards, [1.0, 5 + 6 * g, 6.0], rtol=1e-6)
    np.testing.assert_array_equal(next_states, [203, 2, 2])
    np.testing.assert_allclose(discounts, [g, g * g, g], rtol=1e-6)


def test_a_minibatch_mixing_n_step_and_one_step_samples_is_refused():
    online, demos = _nstep_buffer(10), _nstep_buffer(10, n_steps=1)
    for t in range(3):
        _step(online, t, 1.0)
        _step(demos, t, 1.0)
    online.attach_demos(demos, 0.5)
    with pytest.raises(ValueError, match="mixes n-step and one-step"):
        online.sample(4)


def test_buffers_pickled_before_n_step_returns_load_as_one_step():
    buffer = _nstep_buffer(10)
    state = buffer.__getstate__()
    for key in ("n_steps", "gamma", "chain_end", "_copied_row"):
        del state[key]
    old = RelabelingReplayBuffer.__new__(RelabelingReplayBuffer)
    old.__setstate__(state)
    assert old.n_steps == 1 and old.chain_end.shape == old.rewards.shape


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"learner.n_step": 0}, "learner.n_step: must be >= 1"),
        ({"learner.n_step": 3, "learner.algo": "ppo"}, "learner.n_step"),
        ({"learner.n_step": 3, "learner.her_k": 2, "task": "panda-push"}, "her_k 2"),
        ({"learner.n_step": 3, "pebble.unsup_steps": 100}, "unsup_steps 100"),
    ],
)
def test_n_step_settings_that_cannot_work_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=overrides)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "rlpd"])
def test_a_run_with_n_step_returns_trains_with_their_discounts(tiny, algo):
    from robopref.rl.train import train
    from robopref.runs import RunPaths

    config = tiny(**{"learner.algo": algo, "learner.n_step": 3}, demos="1", reward="sparse")
    summary = train(config)
    with open(RunPaths.of(summary["run"]).latest_checkpoint() / "replay_buffer.pkl", "rb") as f:
        buffer = pickle.load(f)
    assert buffer.n_steps == 3 and buffer.demos.n_steps == 3
    batch = buffer.sample(64)
    discounts = batch.discounts.numpy()[:, 0]
    # Mostly three steps; one or two where a chain ends (the demonstration's end, the
    # newest row, a time limit).
    steps = np.log(discounts) / np.log(0.99)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert set(np.round(steps).astype(int)) <= {1, 2, 3}
    assert np.mean(np.isclose(discounts, 0.99**3)) > 0.5
