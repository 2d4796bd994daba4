"""Helpers of the query-UI tests: synthetic episodes, runs, servers in a thread or a process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robopref.data import Episode, EpisodeStore
from robopref.preferences import LabelStore
from robopref.runs import RunPaths

CAMERAS = ("front", "side", "wrist")
REAL_CAMERAS = ("front", "wrist")
REPO = Path(__file__).resolve().parents[2]


#: What the trainer and the rosbag importer record for panda-reach (`sim.describe_task`).
REACH_DESCRIPTION = "Move the gripper to the green sphere."


def synthetic_episode(
    episode_id: str,
    steps: int = 12,
    cameras: tuple[str, ...] = CAMERAS,
    size: int = 32,
    task: str = "panda-reach",
    seed: int = 0,
) -> Episode:
    """An episode whose frames show a bright square moving across a coloured background."""
    rng = np.random.default_rng(seed)
    frames = {}
    for c, cam in enumerate(cameras):
        f = np.zeros((steps + 1, size, size, 3), np.uint8)
        f[..., c % 3] = 40 + 40 * c
        for t in range(steps + 1):
            x = (t * (size - 8)) // max(steps, 1)
            f[t, 8:16, x : x + 8] = 255
        frames[cam] = f
    return Episode(
        state=rng.normal(size=(steps + 1, 4)).astype(np.float32),
        action=rng.uniform(-1, 1, (steps, 2)).astype(np.float32),
        reward=np.zeros(steps, np.float32),
        success=np.zeros(steps, bool),
        timestamp=np.arange(steps + 1) / 20.0,
        metadata=dict(
            task=task, source="random", backend="test", seed=seed, robot="panda", control_hz=20
        ),
        frames=frames,
        episode_id=episode_id,
    )


def record_real_episode(seed: int, steps: int = 30) -> Episode:
    """An episode as the bridge records it: odd-sized camera frames, no task reward."""
    from hardware.core.recorder import EpisodeRecorder

    rng = np.random.default_rng(seed)
    meta = {"task": "panda-reach", "task_description": REACH_DESCRIPTION, "source": "real",
            "backend": "real", "seed": None, "robot": "panda", "control_hz": 10}  # fmt: skip
    rec = EpisodeRecorder(REAL_CAMERAS, meta)
    for t in range(steps + 1):
        obs = {"state": rng.normal(size=9)}
        for c in REAL_CAMERAS:
            obs[c] = rng.integers(0, 255, (45, 60, 3), dtype=np.uint8)
        rec.observe(obs, stamp=100.0 + t / 10)
        if t < steps:
            rec.act(rng.uniform(-1, 1, 4))
    return rec.finish(terminated=False, truncated=True)


def make_run(
    root: Path,
    episodes: list[Episode],
    queries: list[tuple] = (),
    task: str | None = "panda-reach",
) -> RunPaths:
    """A run directory with ``config.json`` and ``task.json`` (when ``task``), episodes and
    queued queries, as the trainer leaves it."""
    import sim

    run = RunPaths.of(root)
    run.root.mkdir(parents=True, exist_ok=True)
    if task is not None:
        run.config.write_text(json.dumps({"task": task}))
        run.write_task(task, sim.describe_task(task))
    store = EpisodeStore(run.episodes)
    for ep in episodes:
        store.save(ep)
    with LabelStore(run.labels) as labels:
        if queries:
            labels.add_queries(list(queries))
    return run


def pairs(n: int, length: int = 6, episodes=("ep0", "ep1"), k: int = 1) -> list[tuple]:
    """``n`` queries over two episodes: segment starts cycle so every pair differs."""
    return [
        ((episodes[0], i % 4, length), (episodes[1], (i + 1) % 4, length), "uniform", None, k)
        for i in range(n)
    ]


@contextlib.contextmanager
def thread_server(config) -> Iterator[str]:
    """The app of ``config`` under uvicorn in a thread of this process; yields its base URL."""
    import uvicorn

    from robopref.ui.app import create_app
    from robopref.ui.server import bind

    app = create_app(config)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def start_server_process(run: Path, *args: str) -> tuple[subprocess.Popen, dict]:
    """``python -m robopref.cli label RUN --port 0 ARGS``; returns it and its first
    line (the JSON summary with the URL)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "robopref.cli", "label", str(run), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"server did not start: {proc.stderr.read()}")
    return proc, json.loads(line)
