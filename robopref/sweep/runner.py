"""``robopref sweep``: every run of a sweep as a Ray task, with retries and resume.

Layout of a sweep directory (``--out``)::

    sweep.json          the parsed sweep file and its runs (``--resume`` checks it)
    runs/<name>/        one ordinary ``robopref train`` run directory per run
    status/<name>.json  the run's state and attempts (pid, host, checkpoint it resumed from)
    status/<name>.log   the run's log lines (Ray keeps worker output in its own logs)
    summary.json        the final JSON line
    report/             ``robopref sweep report``: results.csv/.json, curves.png

Fault tolerance comes from Ray and from the run directory. A worker that dies (SIGKILL, a
lost node) fails its task with a system error, which Ray retries (``max_retries``); the
retry finds the run's ``config.json`` and resumes it with ``robopref train --resume``
semantics, from its newest intact checkpoint. A run whose own code raises (a bad config
value, a missing demos directory) is not retried: its error goes to the summary and the
other runs go on. ``--resume`` skips every run that has its ``summary.json``.

Run directories must be reachable at the same absolute path from every node: on a cluster,
a shared filesystem (NFS, a cloud file share) mounted alike everywhere.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robopref.data.storage import atomic_path
from robopref.runs import RunPaths
from robopref.sweep.spec import SweepError, SweepRun, SweepSpec

MAX_RETRIES = 3
"""Retries of a run whose worker died (Ray's default for tasks)."""


@dataclass(frozen=True)
class SweepPaths:
    """The paths of a sweep directory."""

    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "sweep.json"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def status(self, name: str) -> Path:
        return self.root / "status" / f"{name}.json"

    def log(self, name: str) -> Path:
        return self.root / "status" / f"{name}.log"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


def read_status(path: Path) -> dict[str, Any]:
    """A run's status file, or a fresh one."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"status": "pending", "attempts": []}


def _checkpoint_steps(run: RunPaths) -> int | None:
    """Env steps of the run's newest checkpoint; None: nothing to resume from."""
    ckpt = run.latest_checkpoint()
    return int(ckpt.name.removeprefix("ckpt-")) if ckpt is not None else None


def _finished(run: RunPaths) -> dict[str, Any]:
    final = json.loads(run.summary.read_text())
    keys = ("success_rate", "true_return", "labels_used", "env_steps")
    return {"status": "completed", **{k: final.get(k) for k in keys}}


def execute_run(config: dict[str, Any], status_path: str, log_path: str) -> dict[str, Any]:
    """One run, in a Ray worker: starts it, or resumes it after a worker died.

    Returns ``{"status": "completed", <figures>}`` or ``{"status": "failed", "error"}``; an
    error of the run's own is returned, not raised, so Ray does not retry it (it would fail
    the same way) and the driver gets its message.
    """
    from robopref.rl.config import from_dict
    from robopref.rl.train import train

    run = RunPaths.of(config["run_dir"])
    status_file, log_file = Path(status_path), Path(log_path)
    status = read_status(status_file)
    resume_from = _checkpoint_steps(run) if run.config.exists() else None
    status["status"] = "running"
    status["attempts"].append(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "resume_from": resume_from,  # the newest checkpoint as the attempt starts
        }
    )
    _write_json(status_file, status)

    def log(msg: str) -> None:
        with open(log_file, "a") as f:
            f.write(msg.rstrip() + "\n")

    try:
        if run.summary.exists():  # a retry of a task that died after the run had finished
            return _finished(run)
        if run.config.exists():
            log(f"attempt {len(status['attempts'])}: resuming {run.root}")
            train(resume=str(run.root), log=log)
        else:
            log(f"attempt {len(status['attempts'])}: starting {run.root}")
            train(from_dict(config), log=log)
    except Exception as e:  # the run's own failure: reported, never retried
        log(traceback.format_exc())
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    return _finished(run)


def _prepare(spec: SweepSpec, paths: SweepPaths, resume: bool, source: str) -> None:
    """Writes ``sweep.json`` for a new sweep, or checks that ``--resume`` goes on with the
    same sweep. Runs before Ray starts."""
    record = {"version": 1, "file": source, "spec": spec.to_dict()}
    if paths.spec.exists():
        if not resume:
            raise SweepError(
                f"{paths.root} already holds a sweep: add --resume to run what is unfinished, "
                "or pick another --out"
            )
        stored = json.loads(paths.spec.read_text())
        if stored.get("spec") != json.loads(json.dumps(spec.to_dict())):
            raise SweepError(
                f"--resume: {paths.root} holds the sweep of {stored.get('file')!r}, which "
                f"differs from {source!r}; resume with that file, or pick another --out"
            )
        return
    if resume:
        raise SweepError(f"--resume: {paths.root} holds no sweep (no sweep.json)")
    record["runs"] = [
        {"name": r.name, "setting": r.setting, "seed": r.seed, "overrides": r.overrides}
        for r in spec.runs(paths.root)
    ]
    _write_json(paths.spec, record)


def _result(run: SweepRun, outcome: dict[str, Any], attempts: int) -> dict[str, Any]:
    return {
        "run": run.name,
        "dir": run.config["run_dir"],
        "setting": run.overrides,
        "seed": run.seed,
        "attempts": attempts,
        **outcome,
    }


class _Progress:
    """A bar of finished runs, with running and failed counts (stderr)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc="sweep", unit="run", disable=not enabled)
        self.failed = 0
        self._shown: tuple[int, int, int] | None = None

    def update(self, finished: int, running: int, queued: int) -> None:
        # Redrawn when a count changes, not every poll: a log file keeps one line per change.
        counts = (running, queued, self.failed)
        if counts != self._shown or finished:
            self.bar.set_postfix(running=running, queued=queued, failed=self.failed, refresh=False)
            self.bar.update(finished)
            self.bar.refresh()
            self._shown = counts

    def close(self) -> None:
        self.bar.close()


def _execute(
    todo: list[SweepRun],
    paths: SweepPaths,
    spec: SweepSpec,
    max_concurrent: int | None,
    max_retries: int,
    progress: _Progress,
) -> dict[str, dict[str, Any]]:
    """Runs ``todo`` as Ray tasks, at most ``max_concurrent`` at once; outcome per run."""
    import ray

    task = ray.remote(execute_run).options(
        num_cpus=spec.cpus_per_run, max_retries=max_retries, retry_exceptions=False
    )
    pending, outcomes = list(todo), {}
    inflight: dict[Any, Any] = {}  # Ray object ref -> its run
    while pending or inflight:
        while pending and (max_concurrent is None or len(inflight) < max_concurrent):
            run = pending.pop(0)
            status = read_status(paths.status(run.name))
            _write_json(paths.status(run.name), {**status, "status": "queued"})
            ref = task.remote(run.config, str(paths.status(run.name)), str(paths.log(run.name)))
            inflight[ref] = run
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        for ref in ready:
            run = inflight.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as e:  # retries used up (worker died each time)
                outcome = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
            status = read_status(paths.status(run.name))
            status.update(status=outcome["status"], error=outcome.get("error"))
            _write_json(paths.status(run.name), status)
            progress.failed += outcome["status"] == "failed"
            outcomes[run.name] = outcome
        states = [read_status(paths.status(r.name))["status"] for r in inflight.values()]
        running = states.count("running")
        progress.update(len(ready), running, len(inflight) - running + len(pending))
    return outcomes


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike[str],
    *,
    source: str = "sweep file",
    address: str | None = None,
    max_concurrent: int | None = None,
    resume: bool = False,
    max_retries: int = MAX_RETRIES,
    num_cpus: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Runs (or, with ``resume``, finishes) the sweep ``spec`` in ``out``.

    Args:
        spec: the parsed sweep file (`robopref.sweep.spec.load_sweep`).
        out: the sweep directory.
        source: the sweep file's name, kept in ``sweep.json``.
        address: Ray cluster to join (``auto``, ``ray://host:port``); None: a local Ray.
        max_concurrent: most runs at once; None: as many as Ray's CPUs allow.
        resume: go on with the sweep in ``out``, skipping finished runs.
        max_retries: retries of a run whose worker died.
        num_cpus: CPUs of a local Ray (default: the machine's).
        progress: show a progress bar on stderr.
        log: where messages go (default: stderr).

    Returns:
        ``{"sweep", "runs", "completed", "failed", "results"}``, also written to
        ``summary.json``.

    Raises:
        SweepError: ``out`` holds another sweep, or no sweep to resume.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if max_concurrent is not None and max_concurrent < 1:
        raise SweepError(f"--max-concurrent: must be >= 1, got {max_concurrent}")
    paths = SweepPaths(Path(out).absolute())
    _prepare(spec, paths, resume, source)
    runs = spec.runs(paths.root)
    finished = {r.name for r in runs if RunPaths.of(r.config["run_dir"]).summary.exists()}
    todo = [r for r in runs if r.name not in finished]
    if resume:
        log(f"sweep {paths.root}: {len(finished)} of {len(runs)} runs finished, running the rest")
    outcomes: dict[str, dict[str, Any]] = {}
    if todo:
        from robopref.sweep.cluster import ray_session

        bar = _Progress(len(runs), len(finished), progress)
        try:
            with ray_session(address, num_cpus):
                outcomes = _execute(todo, paths, spec, max_concurrent, max_retries, bar)
        finally:
            bar.close()
    results = []
    for run in runs:
        attempts = len(read_status(paths.status(run.name))["attempts"])
        if run.name in finished:
            outcome = {**_finished(RunPaths.of(run.config["run_dir"])), "skipped": True}
        else:
            outcome = outcomes[run.name]
        results.append(_result(run, outcome, attempts))
    completed = sum(r["status"] == "completed" for r in results)
    summary = {
        "sweep": str(paths.root),
        "runs": len(runs),
        "completed": completed,
        "failed": len(runs) - completed,
        "results": results,
    }
    _write_json(paths.summary, summary)
    return summary


__all__ = ["SweepPaths", "execute_run", "read_status", "run_sweep"]
