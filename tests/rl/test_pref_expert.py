"""The expert check of a run's learned preference reward (`robopref.benchmarks.pref_expert`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robopref.benchmarks.pref_expert import check, episode_row, main
from robopref.rewards.preference import PreferenceRewardModel
from robopref.rl.train import train
from robopref.runs import RunPaths


@pytest.mark.slow
def test_a_runs_preference_reward_is_scored_along_the_experts_episodes(tiny, capsys):
    result = train(tiny())  # panda-reach, the preference reward alone
    rows = check(result["run"], episodes=2, recent=3)
    expert, summary = rows[:2], rows[2]
    assert [r["episode"] for r in expert] == [0, 1] and all(r["source"] == "expert" for r in expert)
    for r in expert:
        assert len(r["quarters"]) == 4
        assert sum(r["quarters"]) == pytest.approx(r["pref_return"], abs=1e-2)
        for rho in (r["rho_level"], r["rho_gain"]):
            assert rho is None or -1.0 <= rho <= 1.0
    assert summary["task"] == "panda-reach" and summary["randomize"] is False
    from robopref.data import EpisodeStore

    stored = len(EpisodeStore(result["run"] + "/episodes").ids())
    assert summary["expert_episodes"] == 2 and summary["run_episodes"] == min(3, stored) > 0
    assert summary["expert_pref_return"] == pytest.approx(
        np.mean([r["pref_return"] for r in expert]), abs=1e-3
    )
    assert summary["expert_success"] == 1.0  # the reach expert reaches
    # The row is the model's own reward along the episode: recomputed here.
    from robopref.rl.config import from_dict
    from robopref.rl.demos import record_expert_demos

    run = RunPaths.of(result["run"])
    model = PreferenceRewardModel.load(run.reward / "pref.pt")
    config = from_dict(run.read_config())
    ep = record_expert_demos(config.replace(seed=config.seed + 7_777), 1, ())[0]
    again = episode_row(model, ep)
    assert again["pref_return"] == pytest.approx(expert[0]["pref_return"], abs=1e-3)
    assert again["pref_return"] == pytest.approx(
        float(model.reward(ep.state[:-1], ep.action)[0].sum()), abs=1e-2
    )
    # Through the CLI: JSON lines, the summary last.
    assert main([result["run"], "--episodes", "1", "--recent", "0"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2 and lines[-1]["run_pref_return"] is None


@pytest.mark.slow
def test_a_run_without_a_preference_reward_is_a_clear_error(tiny, capsys):
    result = train(tiny(reward="sparse", steps=100))
    with pytest.raises(FileNotFoundError, match="no preference reward model"):
        check(result["run"])
    assert main([result["run"]]) == 2
    assert "pref.pt: the run has no preference reward model" in capsys.readouterr().err
    with pytest.raises(ValueError, match="episodes >= 1"):
        check(result["run"], episodes=0)
    # A task without a scripted expert (dm_control) is named, before any model is loaded.
    run = RunPaths.of(result["run"])
    config = json.loads(run.config.read_text())
    run.config.write_text(json.dumps({**config, "task": "dmc:walker-walk"}))
    (run.reward / "pref.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="dmc:walker-walk has no scripted expert"):
        check(result["run"])
