"""How well can a model that sees one frame rank a task's privileged progress at all?

A PRM scores each frame on its own, and its held-out Spearman is measured against the
simulator's progress label over all frames pooled (`robopref.rewards.prm_train.evaluate_prm`).
Where that label depends on something no frame shows, no frame-only model can reach a
Spearman of 1: push's progress, for one, is the cube's distance to the marker *relative to
where the cube started*, and once the cube has moved its start is not in the picture.

This measures that limit from the episodes' privileged state instead of their pixels: a
small regressor from the positions a frame shows (TCP, cube, goal, finger width), trained
on one directory of recorded episodes and scored on another exactly as ``eval-prm`` scores
a PRM, against the same regressor given also the episode's reset positions (TCP and cube at
the first step), which progress is normalized by. Exact positions are more than 84-pixel
frames show, so ``frame_state`` is an estimate of what a frame-only model could do with this
much data, and the gap to ``with_reset`` is what the invisible start costs (README,
"Robustness to randomized scenes").

With ``--prm PRM`` it also says where that PRM's own Spearman on the held-out frames is lost
(`prm_breakdown`): over the frames of each recording policy (expert, perturbed, random),
without the random episodes, and with the frames labelled exactly 0 (the clipped progress
of a state further from the goal than the start, so all tied) ranked below every other
frame, which isolates what the ranking of those ties costs; and the Spearman of
Robo-Dopamine's forward-anchored estimate instead of the potential (the hop head from each
episode's first frame, which the first frame's potential anchors), a model that sees where
the episode started.

    python -m robopref.benchmarks.progress_ceiling --train eps/train --test eps/test [--prm prm.pt]

prints one JSON line: ``{"task", "train_frames", "test_frames", "frame_state":
{"spearman", "per_seed"}, "with_reset": {...}}`` (and ``"prm": {...}``). Episodes must
carry progress and the ``"full"`` state (what `robopref rollout` records for the Panda
tasks); with ``--prm``, the test episodes their camera frames too.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

#: The positions a frame of a Panda task shows (fields of the ``"full"`` state).
FRAME_FIELDS = ("tcp", "object_pos", "goal", "finger_width")
#: What progress is normalized by (`sim.tasks.base.EpisodeRef`), taken at the first step.
RESET_FIELDS = ("tcp", "object_pos")


def features(episodes: list, with_reset: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(x, progress)`` over every frame of ``episodes``: the frame's positions, and with
    ``with_reset`` the episode's reset positions repeated on each of its frames.

    Raises:
        ValueError: no episodes, an episode without progress, or a state that is not the
            ``"full"`` layout (the cube and goal are not in a proprioceptive state).
    """
    from sim.state import field_slices, state_dim

    if not episodes:
        raise ValueError("no episodes")
    f = field_slices("full")
    xs, ys = [], []
    for ep in episodes:
        if ep.progress is None:
            raise ValueError(f"episode {ep.episode_id!r} has no progress (a sim recording has)")
        if ep.state.shape[1] != state_dim("full"):
            raise ValueError(
                f"episode {ep.episode_id!r} has a state of {ep.state.shape[1]} values, not the "
                f"'full' layout's {state_dim('full')}: its cube and goal are not in it"
            )
        x = np.concatenate([ep.state[:, f[name]] for name in FRAME_FIELDS], axis=1)
        if with_reset:
            start = np.concatenate([ep.state[:1, f[name]] for name in RESET_FIELDS], axis=1)
            x = np.concatenate([x, np.repeat(start, len(x), axis=0)], axis=1)
        xs.append(x)
        ys.append(ep.progress)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def held_out_spearman(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    steps: int = 3000,
    seeds: int = 3,
    hidden: int = 256,
) -> dict[str, Any]:
    """Spearman, pooled over the test frames, of a 2-layer MLP regressor trained on
    ``train`` (mean squared error, Adam, batches of 256): the mean over ``seeds`` and each."""
    import torch
    from scipy.stats import spearmanr

    for name, v in (("steps", steps), ("seeds", seeds), ("hidden", hidden)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    xtr, ytr = (torch.from_numpy(a) for a in train)
    xte = torch.from_numpy(test[0])
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    per_seed = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(xtr.shape[1], hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1),
        )  # fmt: skip
        opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
        for _ in range(steps):
            idx = torch.randint(len(xtr), (256,))
            loss = ((net((xtr[idx] - mu) / sd).squeeze(-1) - ytr[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            pred = net((xte - mu) / sd).squeeze(-1).numpy()
        rho = spearmanr(pred, test[1]).statistic
        per_seed.append(None if np.isnan(rho) else round(float(rho), 4))
    valid = [r for r in per_seed if r is not None]
    return {"spearman": round(float(np.mean(valid)), 4) if valid else None, "per_seed": per_seed}


def prm_breakdown(
    potential: np.ndarray,
    label: np.ndarray,
    source: np.ndarray,
    anchored: np.ndarray | None = None,
) -> dict[str, Any]:
    """Where a PRM's pooled Spearman is lost: ``{"spearman", "by_source": {policy: rho},
    "without_random", "zero_label_share", "zeros_ranked_last"}``, each rho over the frames it
    names (None where undefined), ``zeros_ranked_last`` with the frames labelled exactly 0
    given the lowest score; with ``anchored`` (a second estimate of each frame's progress,
    such as the forward-anchored one from the episode's first frame) also
    ``"forward_anchored"``, its rho.

    Raises:
        ValueError: arrays of different lengths, or none.
    """
    from scipy.stats import spearmanr

    potential, label, source = (np.asarray(a) for a in (potential, label, source))
    lengths = [len(potential), len(label), len(source)]
    if anchored is not None:
        anchored = np.asarray(anchored)
        lengths.append(len(anchored))
    if not len(label) or len(set(lengths)) != 1:
        raise ValueError(
            "potential, label, source (and anchored) must be non-empty and as long as each "
            f"other, got {', '.join(map(str, lengths))}"
        )

    def rho(x: np.ndarray, keep: np.ndarray | slice = slice(None)) -> float | None:
        x, y = x[keep], label[keep]
        if len(y) < 2 or np.ptp(y) == 0 or np.ptp(x) == 0:  # a constant side: rho undefined
            return None
        r = spearmanr(x, y).statistic
        return None if np.isnan(r) else round(float(r), 4)

    zero = label == 0
    ranked = np.where(zero, potential.min() - 1.0, potential)
    return {
        "spearman": rho(potential),
        "by_source": {str(s): rho(potential, source == s) for s in sorted(set(source.tolist()))},
        "without_random": rho(potential, source != "random")
        if (source != "random").any()
        else None,
        "zero_label_share": round(float(zero.mean()), 4),
        "zeros_ranked_last": rho(ranked),
        **({} if anchored is None else {"forward_anchored": rho(anchored)}),
    }


def _prm_potentials(
    path: str, episodes: list, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A PRM file's potential (conditioned on ``task`` if it is a multi-task model), the
    progress label (as `evaluate_prm` takes it), the recording policy and the forward-anchored
    progress (the hop head from the episode's first frame, `progress_after_hop`) of every
    frame of ``episodes``."""
    from robopref.rewards.prm import ProcessRewardModel, progress_after_hop
    from robopref.rewards.prm_train import check_has_views, progress_labels

    model = ProcessRewardModel.load(path)
    if model.tasks:
        model = model.for_task(task)
    phi, label, source, anchored = [], [], [], []
    for ep in episodes:
        label.append(progress_labels(ep))  # the label eval-prm scores against
        check_has_views(model, ep)
        p = model.potential_batch(ep.frames)
        first = {v: np.repeat(f[:1], len(f), axis=0) for v, f in ep.frames.items()}
        anchored.append(progress_after_hop(p[0], model.hop(first, ep.frames)))
        phi.append(p)
        source.append(np.full(len(ep.progress), ep.metadata.get("source", "unknown")))
    return tuple(np.concatenate(a) for a in (phi, label, source, anchored))  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m robopref.benchmarks.progress_ceiling", description=__doc__.split("\n")[0]
    )
    p.add_argument("--train", required=True, help="directory of recorded training episodes")
    p.add_argument("--test", required=True, help="directory of held-out episodes")
    p.add_argument("--task", default=None, help="only this task's episodes")
    p.add_argument("--steps", type=int, default=3000, help="regressor gradient steps")
    p.add_argument(
        "--seeds", type=int, default=3, help="regressor seeds; 0 with --prm: the PRM breakdown only"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--prm", default=None, help="also break down this PRM's held-out Spearman")
    args = p.parse_args(argv)
    if min(args.steps, args.threads) < 1 or args.seeds < (0 if args.prm else 1):
        p.error("--steps, --seeds and --threads must be >= 1 (--seeds 0 only with --prm)")
    import torch

    from robopref.rollout import load_episodes

    torch.set_num_threads(args.threads)
    try:
        train = load_episodes(args.train, args.task)
        test = load_episodes(args.test, args.task)
        tasks = sorted({ep.metadata["task"] for ep in [*train, *test]})
        if len(tasks) != 1:
            raise ValueError(f"episodes of several tasks {tasks}: pass --task")
        row: dict[str, Any] = {
            "task": tasks[0],
            "train_frames": sum(ep.length + 1 for ep in train),
            "test_frames": sum(ep.length + 1 for ep in test),
        }
        for key, with_reset in (("frame_state", False), ("with_reset", True)):
            if not args.seeds:
                break
            tr, te = features(train, with_reset), features(test, with_reset)
            row[key] = held_out_spearman(tr, te, steps=args.steps, seeds=args.seeds)
        if args.prm is not None:
            row["prm"] = {
                "model": args.prm,
                **prm_breakdown(*_prm_potentials(args.prm, test, tasks[0])),
            }
    except ValueError as e:
        print(f"progress_ceiling: {e}", file=sys.stderr)
        return 2
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
