"""The failure report of object tasks (robopref.benchmarks.failures): classes and summary on
paths made here, and a real run read end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robopref.benchmarks.failures import STALL_STEPS, classify, main, summary
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
    reach = train(tiny(steps=60, reward="sparse", labels=0, run_dir=run + "-reach"))["run"]
    with pytest.raises(SystemExit):
        main([reach])
    assert "panda-reach moves no object to a goal" in capsys.readouterr().err


def test_a_count_of_episodes_below_one_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--episodes", "0"])
    assert "--episodes must be >= 1, got 0" in capsys.readouterr().err
