"""Issue 14's labels experiment: a PRM trained on few privileged-progress episodes, with and
without people's preference labels.

On panda-lift (``--task`` another Panda task), per seed:

1. record (and cache) three sets of episodes with the three cameras: ``small``, the few
   episodes whose privileged progress trains the PRM (expert, perturbed, random; default
   2/4/1, against the 20/40/6 of ``bench/prm.sh``); ``pool``, episodes whose segments are
   labelled (their progress is read by the scripted teacher only, never trained on); and
   ``test``, held out (10/20/4, as ``bench/prm.sh``);
2. queue uniform pairs of ``--segment``-step windows of ``pool`` in a run directory's label
   store and let the oracle teacher (`robopref.preferences.teachers`, B-Pref's perfectly
   rational one, judging privileged progress made) answer them, as a person would in the UI;
3. train a base PRM on ``small`` (``--steps``; progress, hop and success heads), then, for
   each N in ``--labels`` (default 0, 50, 200), continue a copy of it for
   ``--finetune-steps`` on ``small`` plus the first N labels, read back from the run
   directory the way ``robopref reward finetune-prm`` reads them (N = 0: the same steps on
   ``small`` alone, so every row has had the same training);
4. score each on ``test``: Spearman of the potential against privileged progress over every
   frame, success AUC of the potential and of the success head at the final frames, and the
   preference head's accuracy on held-out oracle pairs of ``test`` windows.

One JSON line per (seed, N), also written to ``--out`` (``bench/results/prm-labels/``).
``bench/prm_labels.sh`` runs it; tiny budgets (``--steps 3 --finetune-steps 2 --counts
1,1,0``...) check that it works.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: The task by default (``--task`` picks another Panda task).
TASK = "panda-lift"
TASKS = ("panda-reach", "panda-push", "panda-lift", "panda-pick-place")


def _counts(text: str) -> tuple[int, int, int]:
    values = tuple(int(x) for x in text.split(","))
    if len(values) != 3 or min(values) < 0 or sum(values) < 1:
        raise argparse.ArgumentTypeError(f"expected expert,perturbed,random counts, got {text!r}")
    return values


def record(
    cache: Path, name: str, seed: int, counts: tuple[int, int, int], task: str = TASK
) -> list:
    """Episodes of ``task`` with every camera, recorded once into ``cache/name-E-P-R``."""
    from robopref.data import EpisodeStore
    from robopref.rollout import record_default_episodes

    d = cache / f"{name}-{'-'.join(map(str, counts))}"
    if not d.is_dir():
        record_default_episodes(task, str(d), seed=seed, counts=counts)
    return list(EpisodeStore(d))


def oracle_run(
    run_dir: Path, pool: list, n: int, segment: int, seed: int, task: str = TASK
) -> list:
    """A run directory whose label store holds ``n`` oracle labels on uniform pairs of
    ``pool`` windows (made once); returns its labels in commit order."""
    from robopref.data import EpisodeStore
    from robopref.preferences import (
        LabelStore,
        SegmentPool,
        answer_queries,
        make_teacher,
        select_queries,
    )
    from robopref.runs import RunPaths

    run = RunPaths.of(run_dir)
    if not run.labels.is_file():
        run.create()
        run.config.write_text(json.dumps({"task": task}))
        store = EpisodeStore(run.episodes)
        for ep in pool:
            store.save(ep)
        windows = SegmentPool(pool, segment, stride=1)
        rng = np.random.default_rng(seed)
        with LabelStore(run.labels) as labels:
            labels.add_queries(select_queries("uniform", windows, n, rng))
            answer_queries(labels, store, make_teacher("oracle"), rng, signal="progress")
    with LabelStore(run.labels) as labels:
        return labels.labels()


def held_out_labels(test: list, n: int, segment: int, seed: int) -> list:
    """``n`` oracle-labelled uniform pairs of ``test`` windows (no store: scoring only)."""
    from robopref.preferences import (
        Label,
        SegmentPool,
        draw_pairs,
        make_teacher,
        segment_rewards,
    )

    pool = SegmentPool(test, segment, stride=1)
    rng = np.random.default_rng(seed)
    teacher = make_teacher("oracle")
    out = []
    for i, (a, b) in enumerate(draw_pairs(len(pool), n, rng)):
        refs = pool.ref(int(a)), pool.ref(int(b))
        eps = pool.window(int(a))[0], pool.window(int(b))[0]
        ra, rb = (segment_rewards(ep, r.start, r.length, "progress") for ep, r in zip(eps, refs))
        label = teacher.label(ra[None], rb[None], rng)[0]
        out.append(Label(i + 1, i + 1, label, "teacher:oracle", 0.0, None, "bench", *refs))
    return out


def run_seed(args: argparse.Namespace, seed: int, emit) -> None:
    """Every row of one seed (see the module docstring), passed to ``emit``."""
    from robopref.data import EpisodeStore
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel
    from robopref.rewards.prm_labels import pair_accuracy, pairs_from_labels
    from robopref.rewards.prm_train import evaluate_prm, frame_set, train_prm

    task = args.task
    cache = Path(args.cache) if task == TASK else Path(args.cache) / task  # lift's as before
    small = record(cache, f"small-s{seed}", 10_000 * seed, args.small, task)
    pool = record(cache, f"pool-s{seed}", 10_000 * seed + 3000, args.pool, task)
    test = record(cache, "test", 1000, args.test, task)  # one held-out set for every seed
    label_run = cache / f"labels-s{seed}-{'-'.join(map(str, args.pool))}-seg{args.segment}"
    labels = oracle_run(label_run, pool, max(args.labels), args.segment, seed, task)
    run_episodes = EpisodeStore(label_run / "episodes")

    config = PRMConfig(steps=args.steps, seed=seed)
    base = ProcessRewardModel(config, name="prm-labels", task=task)
    start = time.perf_counter()
    small_frames = frame_set(base, small)
    train_prm(base, small_frames)
    base_seconds = time.perf_counter() - start
    test_frames = frame_set(base, test)
    test_pairs, _ = pairs_from_labels(
        base,
        held_out_labels(test, args.test_pairs, args.segment, seed + 500),
        {ep.episode_id: ep for ep in test},
        max_frames=args.max_frames,
    )
    for n in args.labels:
        model = copy.deepcopy(base)
        start = time.perf_counter()
        pairs = None
        if n:
            pairs, _ = pairs_from_labels(
                model, labels[:n], run_episodes, max_frames=args.max_frames, where=str(cache)
            )
        summary = train_prm(
            model, small_frames, pairs=pairs, steps=args.finetune_steps, lr=args.finetune_lr
        )
        scores = evaluate_prm(model, test_frames, subsets=[model.config.views])
        emit(
            {
                "task": task,
                "seed": seed,
                "labels": n,
                "labels_decisive": 0 if pairs is None else len(pairs),
                "progress_episodes": len(small),
                "pool_episodes": len(pool),
                "test_episodes": len(test),
                "spearman": scores["spearman"],
                "success_auc": scores["success_auc"],
                "success_head_auc": scores.get("success_head_auc"),
                "pref_accuracy": pair_accuracy(model, test_pairs) if n else None,
                "steps": args.steps,
                "finetune_steps": args.finetune_steps,
                "loss_pref": summary.get("loss_pref"),
                "seconds_base": base_seconds,
                "seconds": time.perf_counter() - start,
            }
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m robopref.benchmarks.prm_labels", description=__doc__
    )
    p.add_argument("--task", default=TASK, choices=TASKS, help=f"default {TASK}")
    p.add_argument("--seeds", type=int, default=1, help="seeds (default 1)")
    p.add_argument("--labels", default="0,50,200", help="label counts N (default 0,50,200)")
    p.add_argument("--steps", type=int, default=1000, help="base PRM training steps")
    p.add_argument("--finetune-steps", type=int, default=500, help="steps with the labels")
    p.add_argument("--finetune-lr", type=float, default=3e-4, help="learning rate then")
    p.add_argument("--small", type=_counts, default=(2, 4, 1), help="progress episodes e,p,r")
    p.add_argument("--pool", type=_counts, default=(6, 12, 2), help="labelled episodes e,p,r")
    p.add_argument("--test", type=_counts, default=(10, 20, 4), help="held-out episodes e,p,r")
    p.add_argument("--segment", type=int, default=20, help="steps per labelled segment")
    p.add_argument("--max-frames", type=int, default=16, help="frames kept per segment")
    p.add_argument("--test-pairs", type=int, default=200, help="held-out oracle pairs")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--cache", default="runs/bench-prm-labels", help="episodes and label runs")
    p.add_argument("--out", default="bench/results/prm-labels", help="JSON lines go here")
    args = p.parse_args(argv)
    try:
        args.labels = sorted({int(x) for x in args.labels.split(",") if x})
    except ValueError:
        p.error(f"--labels: expected comma-separated counts, got {args.labels!r}")
    if not args.labels or min(args.labels) < 0 or args.seeds < 1:
        p.error("need --labels counts >= 0 and --seeds >= 1")
    if min(args.steps, args.finetune_steps, args.segment, args.test_pairs) < 1:
        p.error("--steps, --finetune-steps, --segment and --test-pairs must be >= 1")
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    for seed in range(args.seeds):
        run_seed(args, seed, emit)
    (out / f"{args.task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
