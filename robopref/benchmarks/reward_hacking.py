"""The README tables of the reward-hacking report (issue 14, item 5; ``bench/reward_hacking.sh``).

Reads a results directory holding run summaries (``<name>-s<seed>.json``, written by
``python -m robopref.benchmarks.results summarize``; their ``potential_curve`` is the PRM
return against success over training) and the policy reports of ``robopref reward compare
--policy`` (``<name>-s<seed>.compare.jsonl``), and prints two Markdown tables:

1. over training: success rate and PRM return (means over the last 10 training episodes) of
   every run, every ``--every`` env steps;
2. the final policies, rolled out on held-out seeds: success, true return, PRM return, the PRM
   return of successful and of failed episodes, and the rank correlation of PRM and true return.

    python -m robopref.benchmarks.reward_hacking bench/results/reward-hacking [--every 2500]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _fmt(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def load(directory: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The summaries with a ``potential_curve`` and the compare reports of ``directory``."""
    d = Path(directory)
    summaries = [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))]
    summaries = [s for s in summaries if "potential_curve" in s]
    reports = []
    for p in sorted(d.glob("*.compare.jsonl")):
        report = json.loads(p.read_text().splitlines()[-1])
        report["name"] = p.name.removesuffix(".compare.jsonl")
        reports.append(report)
    if not summaries and not reports:
        raise ValueError(f"no reward-hacking summaries or compare reports in {d}")
    return summaries, reports


def training_table(summaries: list[dict[str, Any]], every: int = 2500) -> list[str]:
    """Success and PRM return over training, one column pair per run."""
    names = [f"{s['name']}-s{s['seed']}" for s in summaries]
    curves = [
        {int(step): (succ, ret) for step, succ, ret in s["potential_curve"]} for s in summaries
    ]
    steps = sorted({k for c in curves for k in c if k % every == 0})
    head = "| env steps | " + " | ".join(f"{n}: success | {n}: PRM return" for n in names) + " |"
    rows = [head, "|---" * (1 + 2 * len(names)) + "|"]
    for step in steps:
        cells = []
        for c in curves:
            succ, ret = c.get(step, (None, None))
            cells += [_fmt(succ), _fmt(ret, 1)]
        rows.append(f"| {step:,} | " + " | ".join(cells) + " |")
    return rows


def policy_table(reports: list[dict[str, Any]]) -> list[str]:
    """The final policies' rollouts scored by the PRM, one row per run."""
    rows = [
        "| run | episodes | success | true return | PRM return | PRM return, successful "
        "| PRM return, failed | Spearman(PRM, true return) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        rows.append(
            f"| {r['name']} | {r['episodes']} | {r['success_rate']:.2f} | {r['true_return']:.1f} "
            f"| {r['prm_return']:.1f} | {_fmt(r['prm_return_success'], 1)} "
            f"| {_fmt(r['prm_return_failure'], 1)} | {_fmt(r['spearman_prm_true'], 3)} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="results directory (bench/results/reward-hacking)")
    parser.add_argument("--every", type=int, default=2500, help="env steps between rows")
    args = parser.parse_args(argv)
    summaries, reports = load(args.directory)
    if summaries:
        print("\n".join(training_table(summaries, args.every)) + "\n")
    if reports:
        print("\n".join(policy_table(reports)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
