"""Tiny training budgets: every run here takes seconds, and checks behaviour, not learning."""

from __future__ import annotations

import pytest

from robopref.rl.config import load_config

# Small networks and few steps; the loop's schedule (rounds, checkpoints, logs) still runs
# several times within the budget.
TINY = {
    "task": "panda-reach",
    "reward": "pref",
    "labels": 12,
    "steps": 300,
    "eval_episodes": 1,
    "progress_bar": False,
    "checkpoint_every": 100,
    "log_every": 100,
    "learner.learning_starts": 50,
    "learner.batch_size": 32,
    "learner.net_arch": [32, 32],
    "pebble.query_every": 100,
    "pebble.segment_length": 10,
    "pebble.reward.hidden": [32],
    "pebble.reward.epochs": 5,
    "pebble.pool_episodes": 10,
}


@pytest.fixture
def tiny(tmp_path):
    """``tiny(**dotted_overrides)`` -> a small `TrainConfig` writing under ``tmp_path``."""

    def make(**overrides):
        over = {**TINY, "run_dir": str(tmp_path / "run"), **overrides}
        return load_config(overrides=over)

    return make


@pytest.fixture
def tiny_overrides():
    """The dotted keys of the tiny budget (for runs started on the command line)."""
    return dict(TINY)
