"""Training benchmarks: learning curves side by side, and the loop's throughput overhead.

* ``curves RUN...``: for each run, the true return and success rate at the env steps all
  runs logged (``metrics.csv``), plus the final evaluation (``summary.json``), one JSON line
  per run, then a line with each run's final return as a fraction of the first run's
  (the feedback-efficiency ratio when the first run is SAC on the true reward).
* ``throughput``: env steps/s of plain SB3 SAC and of our loop (preference reward with the
  oracle teacher, per-step C-evaluator reward, query rounds, refits and relabelling) on the
  same task and settings, run one after the other in one process, several rounds
  alternating, so both see the same machine. Our loop runs twice: with SB3's SAC
  (``overhead`` = ``1 - ours / plain``) and with the ``rlpd`` learner at the same
  update-to-data ratio, network sizes and two critics (``speedup_vs_sb3`` = its steps/s
  over plain SB3 SAC's). ``cores`` is what every contender may use: on one core plain SB3
  is timed with one torch thread, on two with two (whichever is faster is the baseline).

Run ``python -m robopref.benchmarks.train curves runs/a runs/b`` or
``robopref bench train --steps 3000``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from robopref.rl.plots import read_metrics
from robopref.runs import RunPaths


def curves(runs: list[str]) -> list[dict]:
    """One row per run: return/success at the common logged steps, and the final figures."""
    tables = {r: read_metrics(RunPaths.of(r)) for r in runs}
    common = sorted(set.intersection(*({row["env_steps"] for row in t} for t in tables.values())))
    rows: list[dict[str, Any]] = []
    for r, table in tables.items():
        by_step = {row["env_steps"]: row for row in table}
        summary_path = RunPaths.of(r).summary
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        rows.append(
            {
                "run": r,
                "env_steps": [int(s) for s in common],
                "true_return": [round(by_step[s]["true_return"], 1) for s in common],
                "success_rate": [round(by_step[s]["success_rate"], 2) for s in common],
                "labels_used": int(table[-1]["labels_used"]) if table else 0,
                "final_eval_return": summary.get("true_return"),
                "final_eval_success": summary.get("success_rate"),
            }
        )
    base = rows[0]["final_eval_return"] if rows else None
    if base:
        rows.append(
            {
                "relative_to": runs[0],
                "final_return_ratio": {
                    row["run"]: round(row["final_eval_return"] / base, 3)
                    for row in rows
                    if row.get("final_eval_return") is not None
                },
            }
        )
    return rows


def _plain_sac_steps_per_s(config, steps: int, threads: int = 1) -> float:
    """SB3 SAC as its documentation runs it, on the same env and settings, no learned reward."""
    import gymnasium
    import torch
    from stable_baselines3 import SAC

    torch.set_num_threads(threads)
    from robopref.rl.env import make_task_env

    env = gymnasium.wrappers.FilterObservation(make_task_env(config), ["state"])
    lc = config.learner
    model = SAC(
        "MultiInputPolicy",
        env,
        learning_rate=lc.learning_rate,
        batch_size=lc.batch_size,
        buffer_size=steps,
        learning_starts=lc.learning_starts,
        gradient_steps=lc.gradient_steps,
        gamma=lc.gamma,
        policy_kwargs={"net_arch": list(lc.net_arch)},
        seed=config.seed,
        device="cpu",
    )
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - start
    env.close()
    torch.set_num_threads(1)
    return steps / elapsed


def _our_steps_per_s(config, steps: int, root: Path, name: str) -> float:
    from robopref.rl.config import from_dict, merge
    from robopref.rl.train import train

    cfg = from_dict(merge(config.to_dict(), {"run_dir": str(root / name)}))
    summary = train(cfg, log=lambda msg: None)
    # Timed inside model.learn, as the plain run is: queries, refits, relabelling and the
    # checkpoint are in; setting up the run directory and the final plots are not.
    return json.loads(RunPaths.of(summary["run"]).summary.read_text())["learn_steps_per_s"]


def throughput(
    task: str = "panda-reach", steps: int = 3000, rounds: int = 2, utd: int = 1, cores: int = 1
) -> dict:
    """Plain SB3 SAC vs our loop (SB3 SAC and rlpd), alternating ``rounds`` times; medians,
    the overhead of our loop and the speedup of rlpd over plain SB3 SAC.

    Two speedups: ``speedup_vs_sb3`` is the whole loop with rlpd (preference reward, oracle
    queries, refits, relabelling, a checkpoint) against plain SAC on the env's own reward;
    ``learner_speedup_vs_sb3`` is rlpd alone on the env's own reward (``--reward sparse``,
    no labels), like for like with plain SAC. A refit costs the same whatever the learner
    (it is the ``overhead`` of the SB3-SAC loop too), and it is a large share of a short
    benchmark: 100 labels in 4 rounds over ``steps`` env steps."""
    import os

    import torch

    from robopref.rl.config import load_config

    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        if len(available) < cores:
            raise ValueError(f"--cores {cores}: this process may use {len(available)} core(s)")
        os.sched_setaffinity(0, set(available[:cores]))
    torch.set_num_threads(1)
    config = load_config(
        overrides={
            "task": task,
            "reward": "pref",
            "labels": 100,
            "steps": steps,
            "eval_episodes": 0,
            "progress_bar": False,
            "checkpoint_every": steps,  # one checkpoint, as a run writes at its end
            "learner.learning_starts": min(1000, steps // 4),
            "pebble.query_every": max(1, steps // 4),
            "learner.gradient_steps": utd,
        }
    )
    # The same update-to-data ratio, networks and number of critics; rlpd's recipe extras
    # that cost compute (a larger ensemble) are off, LayerNorm (negligible) stays.
    fast = config.replace(**{"learner.algo": "rlpd", "learner.critics": 2})
    learner_only = fast.replace(reward="sparse", labels=0)
    plain, ours, rlpd, bare = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            plain.append(max(_plain_sac_steps_per_s(config, steps, t) for t in sorted({1, cores})))
            ours.append(_our_steps_per_s(config, steps, Path(tmp), f"sac-{i}"))
            rlpd.append(_our_steps_per_s(fast, steps, Path(tmp), f"rlpd-{i}"))
            bare.append(_our_steps_per_s(learner_only, steps, Path(tmp), f"rlpd-bare-{i}"))
    p, o, r = statistics.median(plain), statistics.median(ours), statistics.median(rlpd)
    b = statistics.median(bare)
    return {
        "task": task,
        "steps": steps,
        "rounds": rounds,
        "utd": utd,
        "cores": cores,
        "plain_sac_steps_per_s": round(p, 1),
        "ours_steps_per_s": round(o, 1),
        "overhead": round(1.0 - o / p, 3),
        "rlpd_steps_per_s": round(r, 1),
        "speedup_vs_sb3": round(r / p, 2),
        "rlpd_learner_steps_per_s": round(b, 1),
        "learner_speedup_vs_sb3": round(b / p, 2),
        "plain_runs": [round(v, 1) for v in plain],
        "ours_runs": [round(v, 1) for v in ours],
        "rlpd_runs": [round(v, 1) for v in rlpd],
        "rlpd_learner_runs": [round(v, 1) for v in bare],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robopref.benchmarks.train")
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("curves")
    s.add_argument("runs", nargs="+")
    s = sub.add_parser("throughput")
    s.add_argument("--task", default="panda-reach")
    s.add_argument("--steps", type=int, default=3000)
    s.add_argument("--rounds", type=int, default=2)
    s.add_argument("--utd", type=int, default=1)
    s.add_argument("--cores", type=int, default=1)
    args = p.parse_args(argv)
    if args.what == "curves":
        for row in curves(args.runs):
            print(json.dumps(row), flush=True)
    else:
        row = throughput(args.task, args.steps, args.rounds, args.utd, args.cores)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
