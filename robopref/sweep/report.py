"""``robopref sweep report DIR``: results with confidence intervals over seeds.

DIR is a sweep directory (its finished runs are summarized first, into
``report/summaries/``, the small files worth committing) or a directory of such summaries
(``bench/results/...``). Runs are grouped by setting; for final success and return the
report gives the interquartile mean and a 95% bootstrap confidence interval over the seeds
(`robopref.benchmarks.results.intervals`), as ``results.csv`` and ``results.json``, and
``curves.png``: success and return against env steps, IQM lines in confidence bands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from robopref.benchmarks.results import (
    interval_table,
    intervals,
    load_summaries,
    plot_interval_curves,
    summarize,
    write_intervals,
    write_summary,
)
from robopref.runs import RunPaths
from robopref.sweep.runner import SweepPaths


def sweep_summaries(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Summaries of the finished runs of the sweep in ``root``, named by their setting and
    ranked in grid order; unfinished runs are left out."""
    paths = SweepPaths(Path(root))
    record = json.loads(paths.spec.read_text())
    settings = list(dict.fromkeys(r["setting"] for r in record["runs"]))
    out = []
    for r in record["runs"]:
        run = RunPaths.of(paths.runs / r["name"])
        if run.summary.exists():
            summary = summarize(run.root, name=r["setting"])
            summary["rank"] = settings.index(r["setting"])
            out.append(summary)
    return out


def make_report(
    directory: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Writes the report of a sweep directory or of a directory of summaries.

    Args:
        directory: a sweep directory (with ``sweep.json``) or a directory of summaries.
        out: where to write (default: ``<sweep>/report``, or ``<directory>-report`` beside
            a directory of summaries, so that its ``*.json`` are not read as summaries).

    Returns:
        ``{"report", "csv", "json", "png", "runs", "groups"}``; ``groups`` are the rows.

    Raises:
        ValueError: no finished run or summary to report on.
    """
    directory = Path(directory)
    sweep = SweepPaths(directory)
    if sweep.spec.exists():
        summaries = sweep_summaries(directory)
        if not summaries:
            raise ValueError(f"sweep {directory} has no finished run to report on yet")
        report = Path(out) if out is not None else sweep.report
        for s in summaries:
            write_summary(s, report / "summaries")
    elif directory.is_dir():
        summaries = load_summaries(directory)
        report = Path(out) if out is not None else directory.with_name(f"{directory.name}-report")
    else:
        raise ValueError(f"no sweep or summaries directory at {directory}")
    rows = intervals(summaries)
    csv_path, json_path = write_intervals(rows, report)
    png = plot_interval_curves(summaries, report / "curves.png")
    return {
        "report": str(report),
        "csv": str(csv_path),
        "json": str(json_path),
        "png": str(png),
        "runs": len(summaries),
        "groups": rows,
        "table": interval_table(rows),
    }


__all__ = ["make_report", "sweep_summaries"]
