"""``robopref bench ui``: how fast the query UI answers, over real HTTP, in one JSON line.

The server is the real one (``robopref label`` in a child process, uvicorn, the SQLite label
store with its durable commits); the client is this process with one keep-alive connection,
as a browser tab has. Episodes are ``panda-reach`` rollouts with the trainer's defaults: three
84x84 cameras, segments of 25 steps (`robopref.rl.config`).

* ``label_roundtrip_ms_p50/p95``: ``POST /api/label`` until its answer, which the server
  sends only after the label's transaction committed (fsync included). Goal: p95 <= 50 ms.
* ``next_query_ms_p50/p95``: ``GET /api/next`` for a query the server prefetched (it starts
  encoding the next query when it serves one; the page asks for it while the annotator
  watches the current one). Goal: p95 <= 200 ms.
* ``first_query_ms``: the very first ``GET /api/next``, which encodes both segments' clips
  (six of them) while the client waits: what prefetching saves.

The client process is pinned to one core as every ``robopref bench`` is; the server may use
the machine's other cores, as it would beside a browser.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TASK = "panda-reach"
CAMERAS = ("front", "side", "wrist")
SEGMENT_LENGTH = 25
IMAGE_SIZE = 84


def _record_run(root: Path, episodes: int, seed: int) -> None:
    from robopref.rollout import RolloutConfig, run_rollouts
    from robopref.runs import RunPaths

    run = RunPaths.of(root)
    run.root.mkdir(parents=True)
    run.config.write_text(json.dumps({"task": TASK}))
    # Random actions: every episode runs the task's full 50 steps (the expert ends early).
    run_rollouts(
        RolloutConfig(task=TASK, policy="random", episodes=episodes, out=str(run.episodes),
                      seed=seed, cameras=CAMERAS, image_size=IMAGE_SIZE, video=False),
        progress_bar=False,
    )  # fmt: skip


def _queue(root: Path, n: int, seed: int) -> None:
    from robopref.data import EpisodeStore
    from robopref.preferences import LabelStore, SegmentPool, select_queries

    episodes = list(EpisodeStore(root / "episodes"))
    pool = SegmentPool(episodes, SEGMENT_LENGTH, stride=1)
    # k=2: the round-trip annotator and the next-query annotator each answer every query.
    specs = select_queries("uniform", pool, n, np.random.default_rng(seed), k=2)
    with LabelStore(root / "labels.sqlite") as store:
        store.add_queries(specs)


def _start_server(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "robopref.cli", "label", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if hasattr(os, "sched_setaffinity"):  # undo the client's one-core pin for the server
        os.sched_setaffinity(proc.pid, range(os.cpu_count() or 1))
    assert proc.stdout is not None  # stdout=PIPE
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"the label server did not start (exit code {proc.returncode})")
    return proc, json.loads(line)["url"]


def _ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1e3, q)), 2)


def _wait_prefetched(client: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/api/health").json()["prefetching"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"prefetching did not finish within {timeout} s")
        time.sleep(0.01)


def bench_ui(labels: int = 300, next_queries: int = 30, episodes: int = 4, seed: int = 0) -> dict:
    """Times label round trips and prefetched next-query calls against a real server.

    Args:
        labels: labels posted (and timed) for the round-trip figures.
        next_queries: prefetched ``GET /api/next`` calls timed.
        episodes: ``panda-reach`` episodes recorded to draw segments from.
        seed: seed of the rollouts and of the query draw.

    Returns:
        The JSON row described in this module's docstring.
    """
    import httpx

    for name, v in (("labels", labels), ("next_queries", next_queries), ("episodes", episodes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"{name} must be an int >= 2, got {v!r}")
    with tempfile.TemporaryDirectory(prefix="robopref-bench-ui-") as tmp:
        root = Path(tmp) / "run"
        _record_run(root, episodes, seed)
        _queue(root, max(labels, next_queries + 1), seed)
        proc, url = _start_server(root)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                # The page's flow: show a query, let the prefetch finish (an annotator
                # watches the clips for seconds), label it, ask for the next one.
                t0 = time.perf_counter()
                query = client.get("/api/next", params={"annotator": "page"}).json()
                first = time.perf_counter() - t0
                nexts = []
                for _ in range(next_queries):
                    _wait_prefetched(client)
                    body = {"query_id": query["query"]["id"], "label": "a", "annotator": "page"}
                    client.post("/api/label", json=body).raise_for_status()
                    t0 = time.perf_counter()
                    r = client.get("/api/next", params={"annotator": "page"})
                    nexts.append(time.perf_counter() - t0)
                    r.raise_for_status()
                    query = r.json()
                roundtrips = []
                for qid in range(1, labels + 1):
                    body = {"query_id": qid, "label": "ab"[qid % 2], "annotator": "rt",
                            "client_label_id": f"rt-{qid}"}  # fmt: skip
                    t0 = time.perf_counter()
                    r = client.post("/api/label", json=body)
                    roundtrips.append(time.perf_counter() - t0)
                    r.raise_for_status()
                encoded = client.get("/api/health").json()["clips_encoded"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "task": TASK,
        "cameras": len(CAMERAS),
        "image_size": IMAGE_SIZE,
        "segment_length": SEGMENT_LENGTH,
        "codec": "h264",
        "labels": labels,
        "label_roundtrip_ms_p50": _ms(roundtrips, 50),
        "label_roundtrip_ms_p95": _ms(roundtrips, 95),
        "next_queries": next_queries,
        "next_query_ms_p50": _ms(nexts, 50),
        "next_query_ms_p95": _ms(nexts, 95),
        "first_query_ms": round(first * 1e3, 1),
        "clips_encoded": encoded,
        "server_cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m robopref.benchmarks.ui [--labels 300] [--next-queries 30]``."""
    from robopref.benchmarks.sim import pin_to_one_core

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, default=300, help="labels posted and timed")
    p.add_argument("--next-queries", type=int, default=30, help="prefetched next queries timed")
    args = p.parse_args(argv)
    pin_to_one_core()
    print(json.dumps(bench_ui(labels=args.labels, next_queries=args.next_queries)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
