"""Run summaries committed under ``bench/results/``, and the README tables made from them.

A run directory holds checkpoints and videos and vanishes with the machine; its summary is a
small JSON file that stays: ``task``, ``reward``, ``teacher``, ``labels``, ``demos``,
``seed``, ``env_steps``, ``final_success``, ``final_return``, ``curve`` (``[env_steps,
success, return]`` rows, from ``metrics.csv``) and ``config`` (the resolved tree); a run with
a PRM/VLM potential adds ``potential_curve`` (``[env_steps, success, potential return]``), a
run with interventions ``unassisted_curve`` (``[env_steps, success without the expert's
takeovers, return]``), which the table's "env steps to 80%" reads. A run evaluated in the
other simulator (``robopref eval RUN --backend bullet``, which writes ``eval-bullet.json``)
adds ``cross_eval`` (``{backend: {episodes, success_rate, true_return}}``), and the table a
column per such backend.

    python -m robopref.benchmarks.results summarize runs/a runs/b --out bench/results/reach
    python -m robopref.benchmarks.results table bench/results/reach
    python -m robopref.benchmarks.results feedback bench/results/feedback --plot out.png
    python -m robopref.benchmarks.results intervals bench/results/reach

``table`` groups files by everything but the seed (or by ``--by KEY``), and prints one
Markdown row per group: the mean and the spread (sample std) of the final figures over the
seeds, how many seeds, and the first logged env step at which success reached 80% (mean
over the seeds that got there). ``intervals`` gives the interquartile mean and a 95%
bootstrap confidence interval over the seeds instead (what ``robopref sweep report`` writes).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

import numpy as np

from robopref.data.storage import atomic_path
from robopref.rl.plots import read_metrics
from robopref.runs import RunPaths

SUMMARY_KEYS = (
    "task",
    "reward",
    "teacher",
    "labels",
    "demos",
    "seed",
    "env_steps",
    "final_success",
    "final_return",
    "curve",
    "config",
)


def _save_figure(fig, out: str | Path) -> Path:
    """Lays out, writes (making the folder) and closes a figure; returns its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def summarize(run_dir: str | Path, name: str | None = None) -> dict[str, Any]:
    """The summary of a finished ``robopref train`` run."""
    run = RunPaths.of(run_dir)
    config = run.read_config()
    if not run.summary.exists():
        raise ValueError(f"run {run.root} has no summary.json: it has not finished")
    final = json.loads(run.summary.read_text())
    rows = read_metrics(run)
    curve = [
        [int(r["env_steps"]), _finite(r["success_rate"]), _finite(r["true_return"])] for r in rows
    ]
    extra: dict[str, Any] = {}
    if rows and "reward/potential_return" in rows[0]:
        extra["potential_curve"] = [
            [int(r["env_steps"]), _finite(r["success_rate"]), _finite(r["reward/potential_return"])]
            for r in rows
        ]
    if rows and "unassisted_success_rate" in rows[0] and _assisted(config):
        # Success without the expert's rescues: what "env steps to 80%" reads (`table`).
        extra["unassisted_curve"] = [
            [int(r["env_steps"]), _finite(r["unassisted_success_rate"]), _finite(r["true_return"])]
            for r in rows
        ]
    cross = _cross_evaluations(run, config["env"]["backend"])
    if cross:
        extra["cross_eval"] = cross
    return {
        "name": name or run.root.name,
        "task": config["task"],
        "reward": config["reward"],
        "teacher": config["teacher"]["name"] if "pref" in config["reward"] else None,
        "labels": int(final.get("labels_used", 0)),
        "demos": config.get("demos") or "",  # null in the configs of issue 15 on
        "learner": config["learner"]["algo"],
        "seed": int(config["seed"]),
        "env_steps": int(final["env_steps"]),
        "final_success": _finite(final.get("success_rate")),
        "final_return": _finite(final.get("true_return")),
        "wall_s": _finite(rows[-1]["wall_s"]) if rows else None,
        "curve": curve,
        **extra,
        "config": config,
    }


def _cross_evaluations(run: RunPaths, own_backend: str) -> dict[str, dict[str, Any]]:
    """The run's evaluations in another simulator (``eval-<backend>.json``), by backend."""
    out = {}
    for path in sorted(run.root.glob("eval-*.json")):
        backend = path.stem[len("eval-") :]
        if backend == own_backend:
            continue
        try:
            result = json.loads(path.read_text())
            out[backend] = {
                "episodes": int(result["episodes"]),
                "success_rate": _finite(result["success_rate"]),
                "true_return": _finite(result["true_return"]),
            }
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a `robopref eval` result ({e})") from e
    return out


def write_summary(summary: dict[str, Any], out_dir: str | Path) -> Path:
    """Writes ``summary`` as ``<out_dir>/<name>-s<seed>.json`` (atomically)."""
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ValueError(f"a summary needs {missing}")
    path = Path(out_dir) / f"{summary['name']}-s{summary['seed']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return path


def _assisted(config: dict[str, Any]) -> bool:
    """Whether the run let the scripted expert take over (``interventions.budget`` > 0)."""
    return int((config.get("interventions") or {}).get("budget", 0) or 0) > 0


def steps_to(curve: list[list], success: float = 0.8) -> int | None:
    """The first logged env step at which success reached ``success``; None: never."""
    for steps, s, _ in curve:
        if s is not None and s >= success:
            return int(steps)
    return None


def _mean_spread(values: list[float | None]) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "n/a"
    spread = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.2f} ± {spread:.2f}"


def load_summaries(directory: str | Path) -> list[dict[str, Any]]:
    paths = sorted(Path(directory).rglob("*.json"))  # a task per subdirectory, or flat
    if not paths:
        raise ValueError(f"no summaries (*.json) in {directory}")
    return [json.loads(p.read_text()) for p in paths]


def table(summaries: list[dict[str, Any]], by: str = "name") -> list[str]:
    """Markdown rows, one per group of summaries sharing ``by``, in ``rank`` order where the
    summaries have one, else in first-seen order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in sorted(summaries, key=lambda s: s.get("rank", 0)):
        groups[str(s[by])].append(s)
    # Cross-simulator success (a MuJoCo-trained policy in PyBullet), where any run has it.
    backends = sorted({b for s in summaries for b in s.get("cross_eval", {})})
    rows = [
        "| run | seeds | final success | final return | env steps to 80% success |"
        + "".join(f" {b} success |" for b in backends),
        "|---|---|---|---|---|" + "---|" * len(backends),
    ]
    for key, members in groups.items():
        # With interventions the training success counts the episodes the expert rescued:
        # the policy's own is the unassisted curve. Summaries from before that curve was
        # logged are marked, their figure counting the rescues.
        reached = [steps_to(m.get("unassisted_curve") or m["curve"]) for m in members]
        got = [r for r in reached if r is not None]
        to80 = f"{statistics.mean(got):,.0f} ({len(got)}/{len(members)})" if got else "never"
        if any(_assisted(m.get("config", {})) and "unassisted_curve" not in m for m in members):
            to80 += " (rescues counted)"
        rows.append(
            f"| {key} | {len(members)} | {_mean_spread([m['final_success'] for m in members])} "
            f"| {_mean_spread([m['final_return'] for m in members])} | {to80} |"
            + "".join(f" {_cross_success(members, b)} |" for b in backends)
        )
    return rows


def _cross_success(members: list[dict[str, Any]], backend: str) -> str:
    """Mean ± spread of the group's success in ``backend``, and how many runs have it."""
    values = [m["cross_eval"][backend]["success_rate"] for m in members
              if backend in m.get("cross_eval", {})]  # fmt: skip
    if not values:
        return "n/a"
    partial = f" ({len(values)}/{len(members)})" if len(values) < len(members) else ""
    return _mean_spread(values) + partial


def _best_and_last(curve: list[list]) -> tuple[float | None, float | None]:
    returns = [r for _, _, r in curve if r is not None]
    return (max(returns), returns[-1]) if returns else (None, None)


def feedback_table(summaries: list[dict[str, Any]], reference: str = "sac-true") -> list[str]:
    """Markdown rows for the feedback-efficiency benchmark, one per task and group.

    ``of reference``: the group's mean final evaluation return over the mean of the
    ``reference`` group of the same task (SAC on the true reward). ``end / best``: the last
    logged training return over the best logged one, the collapse check (a policy that
    exploits its learned reward rises, then falls): the mean over seeds and the lowest.
    """
    by_task: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for s in sorted(summaries, key=lambda s: (s["task"], s.get("rank", 0), s["name"])):
        by_task[s["task"]][s["name"]].append(s)
    rows = [
        "| task | run | seeds | labels | final return | of " + reference + " | end / best |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, groups in by_task.items():
        ref = [m["final_return"] for m in groups.get(reference, []) if m["final_return"]]
        ref_mean = statistics.mean(ref) if ref else None
        for name, members in groups.items():
            finals = [m["final_return"] for m in members if m["final_return"] is not None]
            ratio = f"{statistics.mean(finals) / ref_mean:.2f}" if finals and ref_mean else "n/a"
            kept = []
            for m in members:
                best, last = _best_and_last(m["curve"])
                if best:
                    kept.append(cast(float, last) / best)  # a best implies a last
            # The goal is per run: a mean alone would hide one seed's collapse.
            end_best = (
                "n/a"
                if not kept
                else f"{kept[0]:.2f}"
                if len(kept) == 1
                else f"{statistics.mean(kept):.2f} (min {min(kept):.2f})"
            )
            labels = statistics.mean(m["labels"] for m in members)
            rows.append(
                f"| {task} | {name} | {len(members)} | {labels:.0f} "
                f"| {_mean_spread([m['final_return'] for m in members])} | {ratio} | {end_best} |"
            )
    return rows


def plot_curves(summaries: list[dict[str, Any]], out: str | Path) -> Path:
    """One panel per task: training return against env steps for every group (seed mean)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    tasks = sorted({s["task"] for s in summaries})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        groups: dict[str, list[dict]] = defaultdict(list)
        for s in sorted(summaries, key=lambda s: (s.get("rank", 0), s["name"])):
            if s["task"] == task:
                groups[s["name"]].append(s)
        for name, members in groups.items():
            steps = sorted(set.intersection(*({c[0] for c in m["curve"]} for m in members)))
            by = [{c[0]: c[2] for c in m["curve"]} for m in members]
            mean = [statistics.mean(b[t] for b in by if b[t] is not None) for t in steps]
            ax.plot(steps, mean, label=f"{name} ({len(members)} seed{'s' * (len(members) > 1)})")
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel("true return (last 10 training episodes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save_figure(fig, out)


# ---------------------------------------------------------------- intervals over seeds
# The rliable methodology (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
# Precipice"): the interquartile mean (the mean of the middle 50% of seeds, robust to one
# lucky or broken seed, yet less noisy than the median) with a 95% percentile-bootstrap
# confidence interval. It is computed with SciPy, already a dependency: rliable itself
# brings in pandas, statsmodels, arch and seaborn for these two functions.
FIGURES = {"success": "final_success", "return": "final_return"}


def iqm(values: Any, axis: int | None = None) -> Any:
    """The interquartile mean: the mean after cutting the lowest and highest 25%."""
    from scipy import stats

    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_interval(
    values: list[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    rng: np.random.Generator | None = None,
) -> tuple[float | None, float | None, float | None]:
    """``(iqm, low, high)`` over ``values`` (one per seed); the bounds are a percentile
    bootstrap of the IQM (None with fewer than two values: one seed has no spread)."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return None, None, None
    centre = float(iqm(x))
    if x.size < 2:
        return centre, None, None
    if np.ptp(x) == 0:  # every seed alike: the interval is the point (bootstrap can't vary)
        return centre, centre, centre
    res = stats.bootstrap(
        (x,),
        iqm,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=rng if rng is not None else np.random.default_rng(0),
    )
    return centre, float(res.confidence_interval.low), float(res.confidence_interval.high)


def intervals(
    summaries: list[dict[str, Any]], by: str = "name", seed: int = 0
) -> list[dict[str, Any]]:
    """One row per group of summaries sharing ``by`` (first-seen order): the seeds, and for
    final success and return the IQM and its 95% bootstrap interval over the seeds.

    ``seed`` seeds the bootstrap, so a report is the same every time it is made.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in sorted(summaries, key=lambda s: s.get("rank", 0)):
        groups[str(s[by])].append(s)
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = {
            by: key,
            "seeds": len(members),
            "seed_list": sorted(m["seed"] for m in members),
            "env_steps": max(m["env_steps"] for m in members),
        }
        for figure, field in FIGURES.items():
            rng = np.random.default_rng(seed)
            centre, low, high = iqm_interval([m[field] for m in members], rng=rng)
            row.update(
                {f"{figure}_iqm": centre, f"{figure}_ci_low": low, f"{figure}_ci_high": high}
            )
        rows.append(row)
    return rows


def _interval_text(row: dict[str, Any], figure: str) -> str:
    centre, low, high = (row[f"{figure}_{k}"] for k in ("iqm", "ci_low", "ci_high"))
    if centre is None:
        return "n/a"
    if low is None:
        return f"{centre:.2f}"
    return f"{centre:.2f} [{low:.2f}, {high:.2f}]"


def interval_table(rows: list[dict[str, Any]], by: str = "name") -> list[str]:
    """Markdown rows of `intervals`: IQM [95% CI] of final success and return."""
    out = [
        f"| {by} | seeds | final success, IQM [95% CI] | final return, IQM [95% CI] |",
        "|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r[by]} | {r['seeds']} | {_interval_text(r, 'success')} "
            f"| {_interval_text(r, 'return')} |"
        )
    return out


def write_intervals(rows: list[dict[str, Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """``results.csv`` and ``results.json`` of `intervals` rows in ``out_dir`` (atomically)."""
    import csv
    import io

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    fields = [k for k in rows[0] if k != "seed_list"] if rows else []
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r[k] is None else r[k] for k in fields})
    paths = out / "results.csv", out / "results.json"
    for path, body in zip(paths, (text.getvalue(), json.dumps(rows, indent=1) + "\n")):
        with atomic_path(path) as tmp:
            tmp.write_text(body)
    return paths


def plot_interval_curves(
    summaries: list[dict[str, Any]], out: str | Path, by: str = "name", seed: int = 0
) -> Path:
    """Success and return against env steps, one line per group: the IQM over its seeds at
    every logged step they share, in a band of the 95% bootstrap interval."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = defaultdict(list)
    for s in sorted(summaries, key=lambda s: s.get("rank", 0)):
        groups[str(s[by])].append(s)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), squeeze=False)
    for ax, (column, label) in zip(axes[0], ((1, "success rate"), (2, "true return"))):
        for key, members in groups.items():
            steps = sorted(set.intersection(*({c[0] for c in m["curve"]} for m in members)))
            by_step = [{c[0]: c[column] for c in m["curve"]} for m in members]
            line, low, high = [], [], []
            for t in steps:
                # A resample per step; the rng is seeded so the picture is reproducible.
                c, lo, hi = iqm_interval(
                    [b[t] for b in by_step], resamples=2000, rng=np.random.default_rng(seed)
                )
                line.append(np.nan if c is None else c)
                low.append(np.nan if lo is None else lo)
                high.append(np.nan if hi is None else hi)
            n = len(members)
            (drawn,) = ax.plot(steps, line, label=f"{key} ({n} seed{'s' * (n > 1)})")
            ax.fill_between(steps, low, high, color=drawn.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"{label}, last 10 training episodes", fontsize=9)
        ax.set_title(f"{label}: IQM over seeds, 95% CI band", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return _save_figure(fig, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robopref.benchmarks.results")
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("summarize", help="write the summaries of finished runs")
    s.add_argument("runs", nargs="+")
    s.add_argument("--out", required=True, help="directory under bench/results")
    s.add_argument("--name", help="group name (default: the run directory's name)")
    s = sub.add_parser("table", help="a Markdown table of a directory of summaries")
    s.add_argument("directory")
    s.add_argument("--by", default="name")
    s = sub.add_parser("feedback", help="the feedback-efficiency table, relative to SAC")
    s.add_argument("directory")
    s.add_argument("--reference", default="sac-true")
    s.add_argument("--plot", help="also write the curves of every group to this PNG")
    s = sub.add_parser("intervals", help="IQM and 95%% bootstrap CI over seeds, per group")
    s.add_argument("directory")
    s.add_argument("--by", default="name")
    args = p.parse_args(argv)
    if args.what == "summarize":
        for r in args.runs:
            print(write_summary(summarize(r, args.name), args.out))
    elif args.what == "feedback":
        summaries = load_summaries(args.directory)
        print("\n".join(feedback_table(summaries, args.reference)))
        if args.plot:
            print(plot_curves(summaries, args.plot))
    elif args.what == "intervals":
        print("\n".join(interval_table(intervals(load_summaries(args.directory), args.by))))
    else:
        print("\n".join(table(load_summaries(args.directory), args.by)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
