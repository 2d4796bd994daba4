"""The reward-hacking report (issue 14, item 5): the potential paid directly as the reward,
its per-episode return in ``metrics.csv``, and ``robopref reward compare --policy RUN``."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import robopref.rl.evaluate as evaluate
from robopref.cli import main
from robopref.rewards.prm_train import progress_labels
from robopref.rl.config import ConfigError, load_config
from robopref.rl.pebble import append_metrics_row, trim_metrics
from robopref.rl.reward_report import run_prm_path
from robopref.rl.train import train
from robopref.runs import RunDirError, RunPaths

# A PPO run on one camera with a 2-step quick PRM: seconds, and every piece runs.
DIRECT = {
    "task": "panda-reach",
    "eval_episodes": 1,
    "progress_bar": False,
    "checkpoint_every": 100,
    "log_every": 100,
    "learner.batch_size": 32,
    "learner.net_arch": [32, 32],
    "reward": "prm",
    "steps": 128,
    "learner.algo": "ppo",
    "learner.n_steps": 64,
    "env.cameras": ["front"],
    "shaping.prm_episodes": 3,
    "shaping.prm_steps": 2,
    "shaping.mode": "direct",
    "shaping.scale": 2.0,
}


def _metrics(run: RunPaths) -> list[dict[str, str]]:
    with open(run.metrics, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("hack") / "run"
    summary = train(load_config(overrides={**DIRECT, "run_dir": str(run_dir)}))
    return RunPaths.of(summary["run"])


def test_a_bad_mode_names_the_key_and_the_valid_values():
    with pytest.raises(ConfigError, match=r"shaping\.mode: 'raw' is not one of \['difference'"):
        load_config(overrides={"reward": "sparse+prm", "shaping.mode": "raw"})


@pytest.mark.parametrize(
    ("reward", "match"),
    [("sparse", "has none of them"), ("pref+prm", "cannot be combined with a 'pref' term")],
)
def test_direct_mode_needs_a_potential_and_no_preference_term(reward, match):
    with pytest.raises(ConfigError, match=rf"shaping\.mode: .*{match}"):
        load_config(overrides={"reward": reward, "shaping.mode": "direct"})


def test_direct_mode_pays_the_potential_and_logs_its_return(direct_run):
    rows = _metrics(direct_run)
    assert rows and {"reward/direct", "reward/potential_return"} <= set(rows[0])
    last = rows[-1]
    potential_return = float(last["reward/potential_return"])
    assert math.isfinite(potential_return) and potential_return > 0
    # The direct term is scale * Phi(s'), so an episode's sum is scale * its potential return;
    # nothing is paid as shaping.
    assert float(last["reward/direct"]) == pytest.approx(2.0 * potential_return, rel=1e-4)
    assert float(last["reward/shaping"]) == 0.0
    split = [last["reward/potential_return_success"], last["reward/potential_return_failure"]]
    assert any(math.isfinite(float(v)) for v in split)  # every episode is one or the other
    assert (direct_run.plots / "reward_potential_return.png").exists()


def test_a_run_without_a_potential_keeps_the_loops_columns(tiny):
    summary = train(tiny(reward="sparse", steps=100, **{"learner.algo": "ppo"}))
    (header,) = [next(csv.reader(open(RunPaths.of(summary["run"]).metrics)))]
    assert "reward/potential_return" not in header


def test_compare_policy_tabulates_prm_and_true_returns(direct_run, capsys):
    run = str(direct_run.root)
    assert main(["reward", "compare", "--policy", run, "--episodes", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prm"] == str(direct_run.reward / "prm.pt")
    assert report["shaping_mode"] == "direct" and report["episodes"] == 2
    assert [r["seed"] for r in report["rows"]] == [10_000, 10_001]
    for row in report["rows"]:
        assert row["prm_return"] > 0 and isinstance(row["success"], bool)
    assert {"prm_return_success", "prm_return_failure", "spearman_prm_true"} <= set(report)
    # Reach episodes carry privileged progress: the PRM's ranking of the policy's frames.
    assert isinstance(report["frame_spearman"], float) and -1 <= report["frame_spearman"] <= 1
    assert main(["reward", "compare", "--policy", run, "--episodes", "1", "--table"]) == 0
    out = capsys.readouterr().out
    assert "| seed | PRM return | true return | success |" in out
    assert "Spearman(PRM return, true return)" in out
    assert "Spearman(potential, privileged progress) over the policy's frames" in out


def test_compare_policy_errors_on_a_dir_without_a_policy(tmp_path, capsys):
    assert main(["reward", "compare", "--policy", str(tmp_path)]) == 2
    assert "is not a run: it has no config.json" in capsys.readouterr().err
    run = RunPaths.of(tmp_path / "run").create()
    config = load_config(overrides={"reward": "sparse+prm"})
    run.config.write_text(json.dumps(config.to_dict()))
    assert main(["reward", "compare", "--policy", str(run.root)]) == 2
    assert "has no checkpoint with a model.zip yet" in capsys.readouterr().err


def test_a_run_trained_without_a_prm_needs_one_named(tmp_path):
    run = RunPaths.of(tmp_path)
    with pytest.raises(RunDirError, match="trained without a PRM.*pass --prm FILE"):
        run_prm_path(run, load_config(overrides={"reward": "sparse"}))
    with pytest.raises(RunDirError, match="prm.pt is missing"):
        run_prm_path(run, load_config(overrides={"reward": "sparse+prm"}))


def test_compare_without_rewards_or_policy_says_what_it_needs(capsys):
    assert main(["reward", "compare"]) == 2
    assert "or --policy RUN" in capsys.readouterr().err


def test_metrics_keep_their_columns_through_a_trim(tmp_path):
    run = RunPaths.of(tmp_path)
    append_metrics_row(run.metrics, {"env_steps": 1, "a": 1}, ("env_steps", "a"))
    # An older file gains the new columns (blank in its old rows), and a trim keeps them.
    append_metrics_row(run.metrics, {"env_steps": 2, "a": 2, "b": 3}, ("env_steps", "a", "b"))
    assert [r["b"] for r in _metrics(run)] == ["", "3"]
    trim_metrics(run, 1)
    assert _metrics(run) == [{"env_steps": "1", "a": "1", "b": ""}]


def test_frame_spearman_ranks_the_policys_frames_against_their_progress(direct_run, monkeypatch):
    """The figure is the Spearman of the PRM's potential against the progress label over
    every frame rolled out: a PRM that scores frames by their progress ranks them at 1."""
    from robopref.rewards.prm import ProcessRewardModel
    from robopref.rl.reward_report import policy_prm_report

    seen = []

    def by_progress(self, frames):  # a perfect PRM: the frame's own progress label
        return np.asarray(seen.pop(0), np.float32)

    real_evaluate = evaluate.evaluate_episodes

    def spy(config, policy, seeds, *, cameras=(), on_episode=None, **kw):
        def hook(seed, ep):
            seen.append(progress_labels(ep))
            on_episode(seed, ep)

        return real_evaluate(config, policy, seeds, cameras=cameras, on_episode=hook, **kw)

    monkeypatch.setattr("robopref.rl.reward_report.evaluate_episodes", spy)
    monkeypatch.setattr(ProcessRewardModel, "potential_batch", by_progress)
    report = policy_prm_report(direct_run.root, episodes=2)
    assert report["frame_spearman"] == pytest.approx(1.0)
