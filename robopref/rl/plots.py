"""PNG plots of a run's ``metrics.csv``: return, success and labels used against env steps."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from robopref.runs import RunPaths

PANELS = (
    ("true_return", "true return (last 10 episodes)"),
    ("success_rate", "success rate (last 10 episodes)"),
    ("labels_used", "labels used"),
)
#: Drawn too when the run logs it (a run with a PRM/VLM potential).
POTENTIAL_PANEL = ("reward/potential_return", "potential return (last 10 episodes)")


def read_metrics(run: RunPaths) -> list[dict[str, float]]:
    with open(run.metrics, newline="") as f:
        return [
            {k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def plot_run(run: RunPaths) -> list[Path]:
    """Writes ``plots/<metric>.png`` for each panel and ``plots/training.png`` with all of them
    (the potential's return too where ``metrics.csv`` has it)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    rows = read_metrics(run)
    if not rows:
        return []
    run.plots.mkdir(parents=True, exist_ok=True)
    steps = [r["env_steps"] for r in rows]
    out = []
    panels = (*PANELS, POTENTIAL_PANEL) if POTENTIAL_PANEL[0] in rows[0] else PANELS
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (key, title) in zip(axes, panels):
        ax.plot(steps, [r[key] for r in rows], marker=".")
        ax.set_title(title)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
        single, sax = plt.subplots(figsize=(5, 3.2))
        sax.plot(steps, [r[key] for r in rows], marker=".")
        sax.set_title(title)
        sax.set_xlabel("env steps")
        sax.grid(alpha=0.3)
        single.tight_layout()
        path = run.plots / f"{key.replace('/', '_')}.png"
        single.savefig(path, dpi=100)
        plt.close(single)
        out.append(path)
    fig.suptitle(run.root.name)
    fig.tight_layout()
    fig.savefig(run.plots / "training.png", dpi=100)
    plt.close(fig)
    return [run.plots / "training.png", *out]
