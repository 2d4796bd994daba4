"""Committed run summaries and the tables made from them; the ablation's state variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robopref.benchmarks import ablation
from robopref.benchmarks.results import (
    load_summaries,
    main,
    steps_to,
    summarize,
    table,
    write_summary,
)
from robopref.rl.train import train


@pytest.mark.slow
def test_a_finished_run_is_summarized_with_its_curve_and_config(tiny, tmp_path, capsys):
    result = train(tiny(reward="sparse", steps=200))
    summary = summarize(result["run"], name="reach-sparse")
    assert summary["task"] == "panda-reach" and summary["reward"] == "sparse"
    assert summary["teacher"] is None and summary["labels"] == 0
    assert summary["env_steps"] == 200 and summary["seed"] == 0
    assert [row[0] for row in summary["curve"]] == [100, 200]
    assert summary["final_success"] == result["success_rate"]
    assert summary["config"]["learner"]["algo"] == "sac"
    path = write_summary(summary, tmp_path / "out")
    assert path.name == "reach-sparse-s0.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(summary))
    assert main(["table", str(tmp_path / "out")]) == 0
    assert "| reach-sparse | 1 |" in capsys.readouterr().out


def test_the_table_gives_mean_spread_seeds_and_steps_to_80_percent():
    def s(name, seed, final, curve):
        return {
            "name": name,
            "seed": seed,
            "final_success": final,
            "final_return": final * 10,
            "curve": curve,
        }

    rows = table(
        [
            s("a", 0, 1.0, [[1000, 0.5, 1], [2000, 0.9, 2]]),
            s("a", 1, 0.8, [[1000, 0.8, 1], [2000, 0.8, 2]]),
            s("b", 0, 0.0, [[1000, 0.0, 0]]),
        ]
    )
    assert rows[2] == "| a | 2 | 0.90 ± 0.14 | 9.00 ± 1.41 | 1,500 (2/2) |"
    assert rows[3] == "| b | 1 | 0.00 ± 0.00 | 0.00 ± 0.00 | never |"
    assert steps_to([[5, None, 0], [7, 0.85, 0]]) == 7


def test_a_summary_without_its_keys_and_an_empty_directory_are_errors(tmp_path):
    with pytest.raises(ValueError, match="a summary needs"):
        write_summary({"name": "x", "seed": 0}, tmp_path)
    with pytest.raises(ValueError, match="no summaries"):
        load_summaries(tmp_path)
    with pytest.raises(ValueError, match="has no summary.json"):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "config.json").write_text(json.dumps({"task": "panda-reach"}))
        summarize(tmp_path / "run")


def test_ablation_variants_change_one_thing_at_a_time_and_rebuild_old_states():
    v = ablation.variants()
    assert v["issue-baseline"] == ablation.BASE
    assert v["ent-0.01"] == {**ablation.BASE, "ent_coef": "auto_0.01"}
    assert v["rlpd-demos"]["terminate"] is False and v["rlpd-demos"]["demos"] == 10
    state = np.arange(40, dtype=np.float32)
    old = ablation._state(state, "old")
    assert old.shape == (37,)
    np.testing.assert_allclose(old[31:37], state[31:37] / 10)  # relative vectors in metres
    np.testing.assert_array_equal(old[:31], state[:31])
    assert ablation._state(state, "goal-tcp-m").shape == (40,)
    assert ablation._state(state, "new") is state
