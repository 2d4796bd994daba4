"""Committed run summaries and the tables made from them; the ablation's state variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robopref.benchmarks import ablation
from robopref.benchmarks.results import (
    feedback_table,
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
    assert "cross_eval" not in summary
    # Evaluated in the PyBullet twin (what `robopref eval RUN --backend bullet` writes):
    # the summary keeps that figure; a file that is not an eval result is named.
    bullet = {"run": result["run"], "backend": "bullet", "episodes": 20, "success_rate": 0.85,
              "true_return": 3.5, "true_return_std": 0.1, "videos": {}}  # fmt: skip
    (tmp_path / "eval-bullet.json").write_text("{}")  # not in the run: ignored
    eval_file = result["run"] + "/eval-bullet.json"
    with open(eval_file, "w") as f:
        json.dump(bullet, f)
    cross = summarize(result["run"], name="reach-sparse")["cross_eval"]
    assert cross == {"bullet": {"episodes": 20, "success_rate": 0.85, "true_return": 3.5}}
    with open(eval_file, "w") as f:
        f.write('{"backend": "bullet"}')
    with pytest.raises(ValueError, match="eval-bullet.json: not a `robopref eval` result"):
        summarize(result["run"])


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
    # Success in the other simulator gets its column once any run has it, with how many
    # runs of a group had it where not all did.
    bullet = {"bullet": {"episodes": 20, "success_rate": 1.0, "true_return": 50.0}}
    half = {"bullet": {"episodes": 20, "success_rate": 0.5, "true_return": 20.0}}
    rows = table(
        [
            {**s("a", 0, 1.0, [[1000, 0.9, 1]]), "cross_eval": bullet},
            {**s("a", 1, 1.0, [[1000, 0.9, 1]]), "cross_eval": half},
            {**s("b", 0, 1.0, [[1000, 0.9, 1]]), "cross_eval": bullet},
            s("b", 1, 1.0, [[1000, 0.9, 1]]),
            s("c", 0, 1.0, [[1000, 0.9, 1]]),
        ]
    )
    assert rows[0].endswith("| env steps to 80% success | bullet success |")
    assert rows[1] == "|---|---|---|---|---|---|"
    assert rows[2].endswith("| 1,000 (2/2) | 0.75 ± 0.35 |")
    assert rows[3].endswith("| 1,000 (2/2) | 1.00 ± 0.00 (1/2) |")
    assert rows[4] == "| c | 1 | 1.00 ± 0.00 | 10.00 ± 0.00 | 1,000 (1/1) | n/a |"


def test_steps_to_80_percent_of_a_run_with_interventions_is_the_policys_own():
    assisted = {"interventions": {"budget": 6000}}
    rescued = [[1000, 0.9, 1], [2000, 1.0, 2]]  # training success, rescues included
    own = {
        "name": "iv", "seed": 0, "final_success": 0.9, "final_return": 9.0, "curve": rescued,
        "unassisted_curve": [[1000, 0.3, 1], [2000, 0.8, 2]], "config": assisted,
    }  # fmt: skip
    assert table([own])[2].endswith("| 2,000 (1/1) |")
    # A summary from before the unassisted curve was logged says its figure counts rescues.
    old = {k: v for k, v in own.items() if k != "unassisted_curve"}
    assert table([old])[2].endswith("| 1,000 (1/1) (rescues counted) |")
    # Without interventions there is nothing to mark.
    plain = {**old, "config": {"interventions": {"budget": 0}}}
    assert table([plain])[2].endswith("| 1,000 (1/1) |")


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


def _dmc(name, task, seed, final, returns, labels=0):
    curve = [[1000 * (i + 1), None, r] for i, r in enumerate(returns)]
    return {
        "name": name,
        "task": task,
        "seed": seed,
        "final_return": final,
        "labels": labels,
        "final_success": None,
        "curve": curve,
    }


def test_the_feedback_table_is_relative_to_sac_and_flags_collapse(tmp_path, capsys):
    summaries = [
        _dmc("sac-true", "dmc:walker-walk", 0, 400.0, [10, 200, 400]),
        _dmc("sac-true", "dmc:walker-walk", 1, 600.0, [10, 300, 600]),
        _dmc("pebble-100", "dmc:walker-walk", 0, 250.0, [10, 300, 150], labels=100),
        _dmc("pebble-500", "dmc:walker-walk", 0, 500.0, [10, 400, 400], labels=500),
        _dmc("pebble-500", "dmc:walker-walk", 1, 300.0, [10, 400, 240], labels=500),
        _dmc("sac-true", "dmc:cheetah-run", 0, 200.0, [5, 100, 200]),
        _dmc("pebble-100", "dmc:cheetah-run", 0, 180.0, [5, 90, 180], labels=100),
    ]
    rows = feedback_table(summaries)
    walker = [r for r in rows if "walker" in r]
    sac = "| dmc:walker-walk | sac-true | 2 | 0 | 500.00 ± 141.42 | 1.00 | 1.00 (min 1.00) |"
    assert sac in walker
    # 250 of SAC's mean 500; its training return fell from 300 to 150: half of its best.
    assert "| dmc:walker-walk | pebble-100 | 1 | 100 | 250.00 ± 0.00 | 0.50 | 0.50 |" in walker
    # A seed that fell to 0.6 of its best shows beside the mean (0.8), which would hide it.
    (pebble_500,) = [r for r in walker if "| pebble-500 |" in r]
    assert pebble_500.endswith("| 2 | 500 | 400.00 ± 141.42 | 0.80 | 0.80 (min 0.60) |")
    assert "| dmc:cheetah-run | pebble-100 | 1 | 100 | 180.00 ± 0.00 | 0.90 | 1.00 |" in rows
    for s in summaries:
        (tmp_path / s["task"][4:]).mkdir(exist_ok=True)
        (tmp_path / s["task"][4:] / f"{s['name']}-s{s['seed']}.json").write_text(json.dumps(s))
    png = tmp_path / "curves.png"
    assert main(["feedback", str(tmp_path), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.count("| dmc:") == 5 and png.stat().st_size > 5000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
