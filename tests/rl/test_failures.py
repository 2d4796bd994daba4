"""The failure report of object tasks (robopref.benchmarks.failures): classes and summary on
paths made here, and a real run read end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robopref.benchmarks.failures import (
    STALL_STEPS,
    TrainingReward,
    classify,
    continuation_env,
    continuation_return,
    critic_summary,
    critic_values,
    main,
    summary,
)
from robopref.rl.train import train


def _path(points):
    return np.asarray(points, dtype=float)


def test_each_class_is_told_apart():
    still = _path([[0.5, 0.0]] * 40)
    hand = _path([[0.4, 0.0, 0.1]] * 40)
    assert classify(True, still, hand) == "success"
    assert classify(False, still + [0.009, 0], hand) == "untouched"
    # Pushed 5 cm, then nothing moves for the last STALL_STEPS steps: a fixed point.
    pushed = np.vstack([np.linspace([0.5, 0.0], [0.55, 0.0], 10), [[0.55, 0.0]] * 30])
    assert classify(False, pushed, hand) == "stalled"
    # The same push while the hand still travels 5 cm at the end: still working on it.
    moving_hand = hand.copy()
    moving_hand[-STALL_STEPS:, 0] += np.linspace(0, 0.05, STALL_STEPS)
    assert classify(False, pushed, moving_hand) == "moving"
    late_push = np.vstack([[[0.5, 0.0]] * 30, np.linspace([0.5, 0.0], [0.55, 0.0], 10)])
    assert classify(False, late_push, hand) == "moving"


def test_the_summary_counts_classes_and_splits_success_by_starting_distance():
    records = [
        {"d0": 0.10, "success": True, "class": "success"},
        {"d0": 0.12, "success": True, "class": "success"},
        {"d0": 0.30, "success": False, "class": "stalled"},
        {"d0": 0.35, "success": True, "class": "success"},
    ]
    out = summary(records)
    assert out["episodes"] == 4 and out["success"] == 3 and out["stalled"] == 1
    assert out["success_rate"] == 0.75 and out["median_d0"] == pytest.approx(0.21)
    assert out["success_d0_at_most_median"] == 1.0 and out["success_d0_above_median"] == 0.5
    with pytest.raises(ValueError, match="no episodes"):
        summary([])


@pytest.mark.slow
def test_a_push_run_is_read_end_to_end_and_reach_is_refused(tiny, capsys):
    run = train(tiny(task="panda-push", steps=100, reward="sparse", labels=0))["run"]
    capsys.readouterr()
    assert main([run, "--episodes", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["seed"] for r in lines[:2]] == [10000, 10001]
    assert all(r["class"] in ("success", "untouched", "stalled", "moving") for r in lines[:2])
    assert all(r["steps"] == 150 and r["d0"] > 0 for r in lines[:2])  # push's time limit
    assert lines[2]["episodes"] == 2 and lines[2]["run"] == run
    assert main([run, "--episodes", "2", "--critic"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    failed = [r for r in lines[:2] if not r["success"]]
    for r in failed:  # the critics' view and the continuations, for each failure
        assert np.isfinite([r["q_policy"], r["q_expert"], r["return_policy"]]).all()
        assert isinstance(r["expert_succeeds"], bool)
    assert lines[2]["critic_probed"] == len(failed)
    reach = train(tiny(steps=60, reward="sparse", labels=0, run_dir=run + "-reach"))["run"]
    with pytest.raises(SystemExit):
        main([reach])
    assert "panda-reach moves no object to a goal" in capsys.readouterr().err


def test_a_count_of_episodes_below_one_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--episodes", "0"])
    assert "--episodes must be >= 1, got 0" in capsys.readouterr().err


def test_the_training_reward_weights_the_task_and_shapes_by_progress_only_when_trained_so(tiny):
    from robopref.rewards.shaping import INFO_POTENTIAL, INFO_SHAPING, INFO_TASK

    config = tiny(reward="sparse+progress", task="panda-push", **{"shaping.scale": 10.0})
    progress_run = TrainingReward(config)
    # The shaping as the training's own wrapper logs it: 10 * (0.99 * 1.0 - 0.5).
    info = {"success": True, "progress": 1.0, INFO_TASK: 1.0, INFO_SHAPING: 10 * (0.99 - 0.5)}
    assert progress_run(1.0, info) == pytest.approx(1.0 + 10 * (0.99 - 0.5))
    pref_run = TrainingReward(tiny(reward="pref+prm", **{"shaping.scale": 10.0}))
    assert pref_run(1.0, {"success": True}) == 0.0  # neither term is one the sim scores
    # The continuation env of a progress run is the training's shaping wrapper, room and all.
    env = continuation_env(config, 30)
    try:
        _, info = env.reset(seed=0)
        for _ in range(150 + 30):
            before = info[INFO_POTENTIAL]
            _, r, terminated, truncated, info = env.step(np.zeros(4, np.float32))
        assert truncated and not terminated  # push's 150 steps, then the 30 of room
        assert info[INFO_POTENTIAL] == info["progress"]
        assert info[INFO_SHAPING] == pytest.approx(10 * (0.99 * info["progress"] - before))
        assert progress_run(r, info) == pytest.approx(info[INFO_TASK] + info[INFO_SHAPING])
    finally:
        env.close()


def test_the_expert_continuation_outscores_standing_still(tiny):
    import sim

    config = tiny(task="panda-push", reward="sparse+progress")
    env = continuation_env(config, 0)
    reward = TrainingReward(config)
    try:
        still = np.zeros(4, np.float32)
        replay = [still] * 5
        ret_still, ok_still, (obs, _) = continuation_return(
            env, 2, replay, lambda o, i: still, 120, reward
        )
        ret_expert, ok_expert, _ = continuation_return(
            env, 2, replay, sim.expert("panda-push"), 120, reward
        )
    finally:
        env.close()
    assert ok_expert and not ok_still
    # Standing still at the start pays (gamma - 1) * progress ~ 0 a step; the expert's
    # push earns the shaping of its progress and 1 a step on the marker.
    assert abs(ret_still) < 1.0 and ret_expert > 10
    assert obs["state"].shape == env.observation_space["state"].shape  # where the replay ended


def test_critic_values_are_the_ensemble_mean_for_both_learners(tiny):
    from robopref.rl.env import make_task_env
    from robopref.rl.train import make_learner

    rng = np.random.default_rng(0)
    for algo in ("sac", "rlpd"):
        config = tiny(**{"learner.algo": algo}, reward="sparse")
        env = make_task_env(config, cameras=())
        model = make_learner(config, env, env.observation_space["state"].shape[0], None)
        state = rng.normal(size=env.observation_space["state"].shape).astype(np.float32)
        actions = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
        q = critic_values(model, state, actions)
        assert q.shape == (3,) and np.isfinite(q).all()
        assert len(set(np.round(q, 6))) == 3  # one value per action, not a broadcast
        env.close()


def test_the_critic_summary_counts_what_the_critics_prefer():
    records = [
        {
            "q_policy": 50.0,
            "q_expert": 49.0,
            "return_policy": -2.0,
            "return_expert": 30.0,
            "expert_succeeds": True,
        },
        {
            "q_policy": 10.0,
            "q_expert": 12.0,
            "return_policy": 0.0,
            "return_expert": -1.0,
            "expert_succeeds": False,
        },
        {"success": True},
    ]
    out = critic_summary(records)
    assert out["critic_probed"] == 2 and out["q_policy_minus_return_mean"] == 31.0
    assert out["q_prefers_expert"] == 1 and out["return_prefers_expert"] == 1
    assert out["expert_succeeds"] == 1
    assert critic_summary([{"success": True}]) == {"critic_probed": 0}
