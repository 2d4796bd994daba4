"""Issue 14's labels experiment (`robopref.benchmarks.prm_labels`) on tiny budgets."""

from __future__ import annotations

import json

import pytest

from robopref.benchmarks.prm_labels import main

TINY = ["--steps", "3", "--finetune-steps", "2", "--small", "1,1,0", "--pool", "2,0,0",
        "--test", "1,1,0", "--labels", "0,4", "--segment", "5", "--test-pairs", "4"]  # fmt: skip


@pytest.mark.slow
def test_another_task_gets_its_own_rows_cache_and_file(tmp_path, capsys):
    cache, out = tmp_path / "cache", tmp_path / "out"
    argv = [*TINY, "--task", "panda-reach", "--cache", str(cache), "--out", str(out)]
    assert main(argv) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [(r["task"], r["labels"]) for r in rows] == [("panda-reach", 0), ("panda-reach", 4)]
    assert rows[0]["pref_accuracy"] is None and 0.0 <= rows[1]["pref_accuracy"] <= 1.0
    assert rows[1]["labels_decisive"] <= 4 and rows[0]["progress_episodes"] == 2
    assert json.loads((out / "panda-reach.jsonl").read_text().splitlines()[1]) == rows[1]
    assert not (out / "panda-lift.jsonl").exists()
    # Its episodes are cached apart from the default task's, and are reach's.
    from robopref.data import EpisodeStore

    recorded = list(EpisodeStore(next((cache / "panda-reach").glob("test-*"))))
    assert {ep.metadata["task"] for ep in recorded} == {"panda-reach"}


def test_an_unknown_task_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*TINY, "--task", "dmc:walker-walk", "--cache", str(tmp_path)])
    assert e.value.code == 2 and "invalid choice: 'dmc:walker-walk'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing recorded
