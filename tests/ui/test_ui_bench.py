"""``robopref bench ui`` on a tiny budget: the row's keys and sanity, never timing thresholds
(the machine is shared, so only the figures' existence and order are checked)."""

import argparse
import json
import math

import pytest

from robopref.benchmarks import ui as bench
from robopref.commands import ui as ui_commands


@pytest.mark.subprocess
@pytest.mark.slow
def test_bench_ui_row():
    row = bench.bench_ui(labels=6, next_queries=3, episodes=2)
    assert (row["labels"], row["next_queries"], row["cameras"], row["codec"]) == (6, 3, 3, "h264")
    for key in ("label_roundtrip_ms", "next_query_ms"):
        p50, p95 = row[f"{key}_p50"], row[f"{key}_p95"]
        assert math.isfinite(p50) and 0 < p50 <= p95, key
    # The first query waits for its six clips; a prefetched one does not.
    assert row["first_query_ms"] > row["next_query_ms_p50"]
    assert row["clips_encoded"] >= 6 * 2


def test_bench_ui_main_prints_one_row_with_calls_labels(monkeypatch, capsys):
    monkeypatch.setattr(bench, "bench_ui", lambda labels: {"labels": labels})
    assert ui_commands.bench_ui_main(argparse.Namespace(calls=17)) == 0
    assert json.loads(capsys.readouterr().out) == {"labels": 17}


def test_bench_ui_refuses_bad_sizes():
    with pytest.raises(ValueError, match="labels must be an int >= 2"):
        bench.bench_ui(labels=1)
