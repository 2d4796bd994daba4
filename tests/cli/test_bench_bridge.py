"""``robopref bench bridge`` on short runs: the rows' shape, never timing thresholds (the
machine is shared, so only the figures' existence and sanity are checked)."""

import json
import math

import pytest

from robopref.benchmarks.bridge import bench_bridge

KEYS = {
    "transport",
    "control_hz",
    "seconds",
    "steps",
    "latency_ms_p50",
    "latency_ms_p99",
    "jitter_ms_p99",
    "holds",
    "evaluator",
    "compute_ms_p99",
    "loop_ms_p99",
    "evaluator_us_p50",
    "overruns",
    "fault",
    "state_hz",
    "policy_blob_us_p50",
    "policy_blob_us_p99",
}


def check_row(row: dict, transport: str, seconds: float, hz: float = 50.0) -> None:
    assert KEYS <= set(row), sorted(KEYS - set(row))
    assert row["transport"] == transport and row["control_hz"] == hz
    assert row["evaluator"] is True and row["fault"] is None
    json.dumps(row)  # a JSON line
    expected = seconds * hz
    assert abs(row["steps"] - expected) <= 0.1 * expected, row["steps"]
    # Most periods ran the policy (a loaded machine may hold a few on stale data).
    assert row["policy_commands"] >= 0.5 * row["steps"], row
    for key in ("latency_ms_p50", "latency_ms_p99", "compute_ms_p99", "loop_ms_p99"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
    assert row["latency_ms_p50"] <= row["latency_ms_p99"] <= row["latency_ms_max"]
    assert math.isfinite(row["jitter_ms_p99"]) and row["jitter_ms_p99"] >= 0
    assert row["evaluator_us_p50"] > 0
    # The policy blob was timed on every period the policy ran, at the learners' size.
    assert 0 < row["policy_blob_us_p50"] <= row["policy_blob_us_p99"]
    assert row["policy_blob_sizes"] == [18, 256, 256, 4]


def test_bench_bridge_in_process_row():
    row = bench_bridge("inproc", seconds=2.0)
    check_row(row, "inproc", 2.0)


@pytest.mark.subprocess
@pytest.mark.slow
def test_bench_bridge_over_dds_loopback_row():
    row = bench_bridge("dds", seconds=4.0)
    check_row(row, "dds", 4.0)
    assert math.isfinite(row["js_delay_ms_p99"]) and row["js_delay_ms_p99"] > 0


def test_bench_bridge_refuses_unknown_transport():
    with pytest.raises(ValueError, match="unknown transport"):
        bench_bridge("ros", seconds=1.0)
