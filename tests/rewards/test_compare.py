"""EPIC comparison of rewards on recorded episodes (`robopref reward compare`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_prm import TINY, synthetic_episode

from robopref.cli import main
from robopref.data import EpisodeStore
from robopref.rewards.compare import compare_rewards
from robopref.rewards.model_file import ModelFormatError
from robopref.rewards.preference import PreferenceRewardModel
from robopref.rewards.prm import PRMConfig, ProcessRewardModel


@pytest.fixture(scope="module")
def eps():
    return [synthetic_episode(k, i) for i, k in enumerate(["expert", "regress", "fail"] * 3)]


def test_a_reward_is_at_distance_zero_from_itself_and_not_from_another(eps):
    same = compare_rewards("sparse", "sparse", eps, sample_states=64, sample_actions=4)
    assert same["epic"] == pytest.approx(0.0, abs=1e-6)
    other = compare_rewards("sparse", "progress", eps, sample_states=64, sample_actions=4)
    assert 0.2 < other["epic"] < 0.9
    assert other["transitions"] == sum(e.length for e in eps) and other["episodes"] == 9


def test_model_files_as_rewards(eps, tmp_path):
    prm = ProcessRewardModel(PRMConfig(**TINY))
    prm.save(tmp_path / "prm.pt")
    pref = PreferenceRewardModel(5, 4)
    pref.save(tmp_path / "pref.pt")
    row = compare_rewards(str(tmp_path / "prm.pt"), "progress", eps, sample_states=64)
    assert 0.0 <= row["epic"] <= 1.0
    # The preference table path must agree with evaluating the model directly: r vs itself.
    row = compare_rewards(str(tmp_path / "pref.pt"), str(tmp_path / "pref.pt"), eps)
    assert row["epic"] == pytest.approx(0.0, abs=1e-6)
    row = compare_rewards(str(tmp_path / "pref.pt"), "sparse", eps, sample_states=64)
    assert 0.0 < row["epic"] <= 1.0
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFormatError, match="junk.pt"):
        compare_rewards(str(tmp_path / "junk.pt"), "sparse", eps)


def test_bad_specs(eps):
    with pytest.raises(ValueError, match="not one of"):
        compare_rewards("dense", "sparse", eps)
    no_progress = [synthetic_episode("expert", 5)]
    no_progress[0].progress = None
    with pytest.raises(ValueError, match="privileged progress"):
        compare_rewards("progress", "sparse", no_progress * 2)
    with pytest.raises(ValueError, match="no episodes"):
        compare_rewards("sparse", "progress", [])


def test_cli_compare(eps, tmp_path, capsys):
    store = EpisodeStore(tmp_path)
    for ep in eps:
        ep.metadata["task"] = "panda-push"
        store.save(ep)
    argv = ["reward", "compare", "sparse", "progress", "--task", "panda-push"]
    assert main([*argv, "--episodes", str(tmp_path), "--sample-states", "32"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["task"] == "panda-push" and np.isfinite(row["epic"])
    assert (
        main(
            [
                "reward",
                "compare",
                "sparse",
                "x",
                "--task",
                "panda-push",
                "--episodes",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "not one of" in capsys.readouterr().err


def test_cli_compare_records_episodes_when_none_given(capsys):
    assert (
        main(
            [
                "reward",
                "compare",
                "sparse",
                "progress",
                "--task",
                "panda-reach",
                "--sample-states",
                "32",
                "--sample-actions",
                "4",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)
    assert row["episodes"] == 14 and 0.0 < row["epic"] < 1.0
