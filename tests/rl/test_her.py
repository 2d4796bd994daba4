"""Hindsight relabelling: goals and rewards of the copies, the state rebuilt for the new goal,
the copies in a training run's buffer, and the errors of configs it cannot serve."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import sim
from robopref.rl.config import ConfigError, load_config
from robopref.rl.her import hindsight_transitions
from sim.state import RELATIVE_SCALE, field_slices, with_goal


def _expert_episode(task_name: str, seed: int = 0, steps: int | None = None):
    env = sim.make(task_name)
    expert = sim.expert(task_name)
    obs, info = env.reset(seed=seed)
    states, actions = [obs["state"]], []
    for _ in range(steps or env.unwrapped.task.max_steps):
        action = expert(obs, info)
        obs, _, terminated, truncated, info = env.step(action)
        states.append(obs["state"])
        actions.append(action)
        if terminated or truncated:
            break
    task = env.unwrapped.task
    env.close()
    return np.asarray(states), np.asarray(actions), task


def test_a_state_rebuilt_for_its_own_goal_is_unchanged_and_for_another_is_consistent():
    states, _, _ = _expert_episode("panda-push", steps=20)
    f = field_slices("full")
    same = with_goal(states, states[0, f["goal"]])
    np.testing.assert_allclose(same, states, atol=1e-5)
    goal = np.array([0.5, 0.1, 0.02], np.float32)
    moved = with_goal(states, goal)
    np.testing.assert_allclose(moved[:, f["goal"]], np.tile(goal, (len(states), 1)))
    rel = f"{RELATIVE_SCALE:g}*(goal-object)"
    np.testing.assert_allclose(
        moved[:, f[rel]], RELATIVE_SCALE * (goal - states[:, f["object_pos"]]), atol=1e-5
    )
    untouched = [f[name] for name in ("q", "tcp", "object_pos", f"{RELATIVE_SCALE:g}*(object-tcp)")]
    for sl in untouched:
        np.testing.assert_array_equal(moved[:, sl], states[:, sl])


def test_push_copies_get_goals_the_cube_reached_later_and_the_success_there():
    states, actions, task = _expert_episode("panda-push")
    copies = hindsight_transitions(states, actions, task, 3, np.random.default_rng(0))
    s, a, s2, reward = copies
    steps = len(actions)
    assert s.shape == (3 * steps, states.shape[1]) and a.shape == (3 * steps, 4)
    f = field_slices("full")
    goals = s[:, f["goal"]]
    np.testing.assert_array_equal(goals, s2[:, f["goal"]])  # one goal per transition
    assert np.allclose(goals[:, 2], task.h)  # markers lie on the table
    cube_after = s2[:, f["object_pos"]]
    want = np.linalg.norm(cube_after[:, :2] - goals[:, :2], axis=1) < 0.04
    np.testing.assert_array_equal(reward, want.astype(np.float32))
    # Every goal is a position the cube held at some later step of the episode.
    cube_path = states[:, f["object_pos"]][:, :2]
    gaps = np.linalg.norm(goals[:, None, :2] - cube_path[None], axis=2).min(axis=1)
    assert gaps.max() < 1e-6
    assert 0 < reward.mean() < 1  # the expert moved the cube: some copies fail, some succeed


def test_tasks_without_a_goal_to_relabel_are_refused():
    states, actions, task = _expert_episode("panda-lift", steps=5)
    with pytest.raises(ValueError, match="not a distance to the goal"):
        hindsight_transitions(states, actions, task, 2, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="learner.her_k: 'panda-lift' has no goal"):
        load_config(overrides={"task": "panda-lift", "learner.her_k": 4})
    with pytest.raises(ConfigError, match="learner.her_k: hindsight relabelling needs"):
        load_config(overrides={"learner.algo": "ppo", "learner.her_k": 4})
    with pytest.raises(ConfigError, match="learner.her_k: hindsight relabelling needs"):
        load_config(overrides={"env.state": "proprio", "learner.her_k": 4})
    with pytest.raises(ConfigError, match="learner.her_k: must be >= 0"):
        load_config(overrides={"learner.her_k": -1})


@pytest.mark.slow
def test_a_run_stores_the_copies_beside_its_own_transitions(tiny):
    from robopref.rl.train import train
    from robopref.runs import RunPaths

    config = tiny(steps=200, reward="sparse+pref", **{"learner.her_k": 2})
    summary = train(config)
    run = RunPaths.of(summary["run"])
    with open(run.latest_checkpoint() / "replay_buffer.pkl", "rb") as f:
        buffer = pickle.load(f)
    episodes = 200 // 50  # panda-reach runs 50 steps to its time limit
    assert buffer.size() == 200 + 2 * 50 * episodes
    f = field_slices("full")
    goals = buffer.observations["state"][: buffer.size(), 0, f["goal"]]
    tcp_next = buffer.next_observations["state"][: buffer.size(), 0, f["tcp"]]
    hit = np.linalg.norm(goals - tcp_next, axis=1) < 0.03
    # The task term stored for each transition is the success at its own goal, copies too.
    np.testing.assert_array_equal(buffer.task[: buffer.size(), 0], hit.astype(np.float32))
    assert hit.sum() > 0
