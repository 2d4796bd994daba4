"""Training, evaluation and one-shot adaptation of the process reward model on episodes.

Labels (what the PRM learns to predict) come from each recorded episode: its privileged sim
progress by default (allowed as a *label*, never as an input), with every observation from
the first success on labelled 1. An episode without progress (a real-robot demo) can be
labelled by time (``labels="time"``: row ``t`` of ``T`` is ``t / T``), which is right for
expert demonstrations and is how `adapt_prm` learns from a single demo of a new variant.

Episodes that show progress *and* regress (perturbed or failed rollouts, see
``robopref rollout --policy perturbed``) are what teach the model that progress can go down:
expert demos alone only ever go up.

The success head learns each observation's task success (``Episode.success`` of the step
that led to it; the first observation is not a success). The preference head learns from
`SegmentPairs`: labelled pairs of segments (`robopref.rewards.prm_labels` builds them from a
run's label store), with a Bradley-Terry loss on the difference of the segments' mean
per-frame scores. One `train_prm` call can fit both kinds of data at once.

A multi-task model (``PRMConfig.tasks``) is conditioned, frame by frame, on its current task
when one is chosen (`ProcessRewardModel.for_task`: adaptation, evaluation of one task), else
on each episode's own ``metadata["task"]`` (training on episodes of several tasks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from robopref.data import Episode
from robopref.rewards.model_file import NonFiniteRewardError
from robopref.rewards.prm import ProcessRewardModel, hop_target

__all__ = [
    "FrameSet",
    "SegmentPairs",
    "adapt_prm",
    "evaluate_prm",
    "frame_set",
    "progress_labels",
    "train_prm",
    "view_subsets",
]

LABEL_SOURCES = ("progress", "time")


def progress_labels(ep: Episode, labels: str = "progress") -> np.ndarray:
    """The training label of each observation row of ``ep``, float32 ``(T + 1,)`` in [0, 1].

    Raises:
        ValueError: unknown ``labels``, or ``"progress"`` for an episode without progress.
    """
    if labels not in LABEL_SOURCES:
        raise ValueError(f"unknown label source {labels!r}; valid: {list(LABEL_SOURCES)}")
    if labels == "time":
        return np.linspace(0.0, 1.0, ep.length + 1, dtype=np.float32)
    if ep.progress is None:
        raise ValueError(
            f"episode {ep.episode_id}: no privileged progress to label with (a real-robot "
            "episode?); use labels='time' for expert demonstrations"
        )
    out = np.clip(ep.progress.astype(np.float32), 0.0, 1.0)
    out[1:][ep.success] = 1.0  # solved is full progress, whatever the geometry says
    return out


@dataclass
class FrameSet:
    """Every observation of a list of episodes, ready for the PRM.

    Attributes:
        images: uint8 ``(N, V, S, S, 3)`` in the model's view order (zeros where missing).
        mask: bool ``(N, V)``: which views each observation has.
        label: float32 ``(N,)`` progress labels.
        episode: int64 ``(N,)`` index of the episode each row comes from.
        offsets: int64 ``(E + 1,)``: episode ``e`` is rows ``offsets[e]:offsets[e + 1]``.
        success: bool ``(E,)`` whether each episode succeeded.
        frame_success: bool ``(N,)`` task success in each observation (`frame_success`).
        task: int64 ``(N,)`` each observation's row in a multi-task model's task embedding,
            or None for a single-task model.
    """

    images: np.ndarray
    mask: np.ndarray
    label: np.ndarray
    episode: np.ndarray
    offsets: np.ndarray
    success: np.ndarray
    frame_success: np.ndarray
    task: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class SegmentPairs:
    """Labelled pairs of segments for the preference head (and the success head).

    Each segment is ``F`` of its observations, evenly spaced from its first to its last
    (repeated when it has fewer), as rows of one frame table where each observation is
    stored once.

    Attributes:
        images: uint8 ``(M, V, S, S, 3)`` the frames, in the model's view order.
        mask: bool ``(M, V)``: which views each frame has.
        success: bool ``(M,)`` task success in each frame.
        rows_a: int64 ``(P, F)`` frame rows of segment A of each pair.
        rows_b: int64 ``(P, F)`` frame rows of segment B.
        target: float32 ``(P,)`` probability that A is better: 1 (``a``), 0 (``b``), 0.5
            (``equal``).
        ref_bins: float32 ``(M, K)`` progress distribution to keep on each frame, or None
            (`prm_labels.finetune_prm` sets it when no progress labels are at hand).
    """

    images: np.ndarray
    mask: np.ndarray
    success: np.ndarray
    rows_a: np.ndarray
    rows_b: np.ndarray
    target: np.ndarray
    ref_bins: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.target)


def frame_success(ep: Episode) -> np.ndarray:
    """Task success in each observation row of ``ep``, bool ``(T + 1,)``: row ``t + 1`` is
    ``ep.success[t]`` (the step that led to it), row 0 (after reset) is False."""
    return np.concatenate([[False], ep.success]).astype(bool)


def _episode_task_row(model: ProcessRewardModel, ep: Episode) -> int:
    """The row of a multi-task ``model``'s embedding that conditions ``ep``'s frames: its
    current task's if one is chosen, else the episode's own ``metadata["task"]``.

    Raises:
        ValueError: no task chosen and the episode is of a task the model does not know.
    """
    if model.task:
        return model.tasks.index(model.task)
    task = ep.metadata.get("task")
    if task not in model.tasks:
        raise ValueError(
            f"episode {ep.episode_id} is of task {task!r}, which the multi-task PRM "
            f"{model.name!r} was not trained on; it knows {list(model.tasks)}"
        )
    return model.tasks.index(task)


def check_has_views(model: ProcessRewardModel, ep: Episode) -> None:
    """Raises ValueError naming ``ep`` if it has frames of none of ``model``'s views."""
    if not any(v in ep.frames for v in model.config.views):
        raise ValueError(
            f"episode {ep.episode_id} has no frames of views {list(model.config.views)} "
            f"(it has {list(ep.frames)}); record episodes with cameras"
        )


def frame_set(
    model: ProcessRewardModel, episodes: Sequence[Episode], labels: str = "progress"
) -> FrameSet:
    """Stacks the frames and labels of ``episodes`` for ``model``.

    Raises:
        ValueError: no episodes, an episode with none of the model's views, or (a multi-task
            model with no task chosen) an episode of a task the model does not know.
    """
    if not episodes:
        raise ValueError("no episodes to train or evaluate the PRM on")
    tasks = [_episode_task_row(model, ep) for ep in episodes] if model.tasks else None
    parts, masks, labs, eps, lengths, wins = [], [], [], [], [], []
    for e, ep in enumerate(episodes):
        check_has_views(model, ep)
        images, mask, _ = model.images(ep.frames)
        parts.append(images)
        masks.append(mask)
        labs.append(progress_labels(ep, labels))
        wins.append(frame_success(ep))
        eps.append(np.full(len(images), e))
        lengths.append(len(images))
    return FrameSet(
        images=np.concatenate(parts),
        mask=np.concatenate(masks),
        label=np.concatenate(labs),
        episode=np.concatenate(eps),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        success=np.array([ep.is_success for ep in episodes]),
        frame_success=np.concatenate(wins),
        task=None if tasks is None else np.repeat(np.asarray(tasks, np.int64), lengths),
    )


def _two_hot(label: torch.Tensor, bins: int) -> torch.Tensor:
    """Soft targets on the two bins around each label: their expectation is the label."""
    pos = label.clamp(0, 1) * (bins - 1)
    lo = pos.floor().long().clamp(max=bins - 2)
    hi_w = pos - lo
    out = torch.zeros(len(label), bins)
    out.scatter_(1, lo[:, None], (1 - hi_w)[:, None])
    out.scatter_add_(1, (lo + 1)[:, None], hi_w[:, None])
    return out


def _random_shift(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """DrQ-v2's random shift (Yarats et al. 2021): replicate-pad, then a random crop, done
    for the whole batch in one ``grid_sample`` call."""
    n, _, s, _ = x.shape
    x = F.pad(x, (pad,) * 4, mode="replicate")
    eps = 1.0 / (s + 2 * pad)
    ar = torch.linspace(-1.0 + eps, 1.0 - eps, s + 2 * pad)[:s]
    ar = ar.unsqueeze(0).repeat(s, 1).unsqueeze(2)
    base = torch.cat([ar, ar.transpose(1, 0)], 2).unsqueeze(0).repeat(n, 1, 1, 1)
    shift = torch.randint(0, 2 * pad + 1, (n, 1, 1, 2), generator=gen).float() * 2 * eps
    return F.grid_sample(x, base + shift, padding_mode="zeros", align_corners=False)


def _color_jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast and per-channel gain for each image of ``(N, 3, S, S)``
    in [0, 1] (the photometric half of the augmentations CURL and RAD study)."""
    n = x.shape[0]

    def factor(*shape: int, spread: float) -> torch.Tensor:
        return 1.0 + spread * (2.0 * torch.rand(n, *shape, generator=gen) - 1.0)

    x = x * factor(1, 1, 1, spread=strength)  # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor(1, 1, 1, spread=strength) + mean  # contrast
    x = x * factor(3, 1, 1, spread=strength / 2)  # colour balance
    return x.clamp_(0.0, 1.0)


def _drop_views(mask: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Drops each present view with probability ``p``, always keeping one per row."""
    if p == 0:
        return mask
    keep = mask & (rng.random(mask.shape) >= p)
    empty = ~keep.any(1)
    for i in np.flatnonzero(empty):  # rows that lost every view get one of theirs back
        keep[i, rng.choice(np.flatnonzero(mask[i]))] = True
    return keep


def _sample_pairs(
    data: FrameSet, n: int, rng: np.random.Generator, final_fraction: float = 0.0
) -> tuple[np.ndarray, ...]:
    """Frame pairs from the same episode: the first uniform over all frames (or, with
    probability ``final_fraction``, an episode's final frame), the second uniform over the
    first one's episode."""
    a = rng.integers(0, len(data), n)
    final = rng.random(n) < final_fraction
    a[final] = data.offsets[1:][rng.integers(0, len(data.success), int(final.sum()))] - 1
    e = data.episode[a]
    lo, hi = data.offsets[e], data.offsets[e + 1]
    b = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    return a, b


def _fused_batch(
    model: ProcessRewardModel,
    images: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    gen: torch.Generator,
    task: torch.Tensor | None,
) -> torch.Tensor:
    """Fused features of a training batch: views dropped, frames augmented, then encoded
    (and, for a multi-task model, conditioned on each row's ``task``)."""
    cfg, net = model.config, model.net
    kept = torch.from_numpy(_drop_views(mask, cfg.view_dropout, rng))
    x = model.to_tensor(images)
    if cfg.shift:
        x = _random_shift(x.flatten(0, 1), cfg.shift, gen).view(x.shape)
    if cfg.color_jitter:
        x = _color_jitter(x.flatten(0, 1), cfg.color_jitter, gen).view(x.shape)
    return net.fuse(net.encode(x), kept, task)


def _pairs_loss(
    model: ProcessRewardModel,
    pairs: SegmentPairs,
    rng: np.random.Generator,
    gen: torch.Generator,
    keep_weight: float,
    losses: dict[str, list[float]],
) -> torch.Tensor:
    """Bradley-Terry loss of a batch of labelled pairs (plus success and keep terms)."""
    cfg, net = model.config, model.net
    n, f = cfg.preference_batch, cfg.preference_frames
    p = rng.integers(0, len(pairs), n)
    cols = rng.integers(0, pairs.rows_a.shape[1], (2, n, f))
    rows = np.concatenate(
        [pairs.rows_a[p[:, None], cols[0]].ravel(), pairs.rows_b[p[:, None], cols[1]].ravel()]
    )
    # Labelled pairs come from one run, of one task: the model's current one.
    z = _fused_batch(
        model, pairs.images[rows], pairs.mask[rows], rng, gen, model.task_index(len(rows))
    )
    # A segment's score is the mean of its frames' (here: of F frames drawn from it).
    score = net.preference_score(z).view(2, n, f).mean(-1)
    target = torch.from_numpy(pairs.target[p]).float()
    loss_pref = F.binary_cross_entropy_with_logits(score[0] - score[1], target)
    losses["pref"].append(loss_pref.item())
    loss = cfg.preference_weight * loss_pref
    if cfg.success_weight:
        won = torch.from_numpy(pairs.success[rows]).float()
        loss_success = F.binary_cross_entropy_with_logits(net.success_logit(z), won)
        losses["success"].append(loss_success.item())
        loss = loss + cfg.success_weight * loss_success
    if keep_weight and pairs.ref_bins is not None:
        # KL(reference || model) on the progress bins: learning without forgetting (Li and
        # Hoiem 2016), so that labels reshape the shared encoder without the potential
        # drifting where no progress label says where it should be.
        ref = torch.from_numpy(pairs.ref_bins[rows])
        log_p = F.log_softmax(net.logits(z), -1)
        loss_keep = (torch.special.xlogy(ref, ref) - ref * log_p).sum(-1).mean()
        losses["keep"].append(loss_keep.item())
        loss = loss + keep_weight * loss_keep
    return loss


def train_prm(
    model: ProcessRewardModel,
    data: FrameSet | None,
    *,
    pairs: SegmentPairs | None = None,
    steps: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    keep_weight: float = 0.0,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Fits ``model`` to ``data`` and/or labelled ``pairs``; returns a summary.

    On ``data``: the bins' cross-entropy, the hop regression and (``success_weight``) the
    success head's cross-entropy. On ``pairs``: the preference head's Bradley-Terry loss,
    the success head on the pairs' frames, and (``keep_weight`` with ``pairs.ref_bins``) a
    term that keeps the progress bins where they were. The heads trained are added to
    ``model.trained_heads``.

    Args:
        data: frames with progress labels, or None to train on ``pairs`` alone.
        pairs: labelled pairs of segments, or None.
        steps: gradient steps (default ``model.config.steps``).
        lr: learning rate (default ``model.config.lr``; adaptation uses a smaller one).
        seed: seeds pair sampling, view dropout and augmentation (default config seed).
        keep_weight: weight of the keep term (see above).

    Raises:
        ValueError: neither ``data`` nor ``pairs``, or ``pairs`` without a pair.
    """
    from tqdm import tqdm

    if data is None and pairs is None:
        raise ValueError("train_prm: nothing to train on (no frames and no labelled pairs)")
    if pairs is not None and len(pairs) == 0:
        raise ValueError("train_prm: no labelled pairs to train the preference head on")
    cfg = model.config
    steps = cfg.steps if steps is None else steps
    seed = cfg.seed + len(model.history) if seed is None else seed
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    net = model.net
    opt = torch.optim.AdamW(
        net.parameters(), lr=cfg.lr if lr is None else lr, weight_decay=cfg.weight_decay
    )
    losses: dict[str, list[float]] = {k: [] for k in ("bins", "hop", "success", "pref", "keep")}
    net.train()
    try:
        for _ in tqdm(range(steps), desc=f"train {model.name}", disable=not progress_bar):
            loss = None
            if data is not None:
                loss = _frames_loss(model, data, rng, gen, losses)
            if pairs is not None:
                loss_pairs = _pairs_loss(model, pairs, rng, gen, keep_weight, losses)
                loss = loss_pairs if loss is None else loss + loss_pairs
            assert loss is not None
            if not torch.isfinite(loss):
                raise FloatingPointError(f"PRM {model.name!r}: loss became {float(loss)}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        net.eval()
    if steps and cfg.success_weight:
        model.trained_heads.add("success")
    if steps and pairs is not None and cfg.preference_weight:
        model.trained_heads.add("preference")
    tail = max(1, steps // 10)

    def last(name: str) -> float:
        return float(np.mean(losses[name][-tail:])) if losses[name] else math.nan

    summary: dict[str, Any] = {
        "steps": steps,
        "frames": 0 if data is None else len(data),
        "episodes": 0 if data is None else len(data.success),
    }
    if data is not None:
        summary["loss_bins"] = last("bins")
        summary["loss_hop"] = last("hop")
    for name in ("success", "pref", "keep"):  # only the terms that were trained
        if losses[name]:
            summary[f"loss_{name}"] = last(name)
    if pairs is not None:
        summary["pairs"] = len(pairs)
    model.history.append(summary)
    return summary


def _frames_loss(
    model: ProcessRewardModel,
    data: FrameSet,
    rng: np.random.Generator,
    gen: torch.Generator,
    losses: dict[str, list[float]],
) -> torch.Tensor:
    """Progress bins, hop and success losses of a batch of frame pairs of ``data``."""
    cfg, net = model.config, model.net
    a, b = _sample_pairs(data, cfg.batch_size, rng, cfg.final_fraction)
    idx = np.concatenate([a, b])
    task = None if data.task is None else torch.from_numpy(data.task[idx])
    z = _fused_batch(model, data.images[idx], data.mask[idx], rng, gen, task)
    y = torch.from_numpy(data.label[idx])
    loss_bins = -(_two_hot(y, cfg.bins) * F.log_softmax(net.logits(z), -1)).sum(-1).mean()
    loss = loss_bins
    if cfg.hop_weight > 0:
        za, zb = z[: len(a)], z[len(a) :]
        target = torch.from_numpy(hop_target(data.label[a], data.label[b])).float()
        loss_hop = F.mse_loss(net.hop_pred(za, zb), target)
        loss = loss + cfg.hop_weight * loss_hop
        losses["hop"].append(loss_hop.item())
    if cfg.success_weight:
        won = torch.from_numpy(data.frame_success[idx]).float()
        loss_success = F.binary_cross_entropy_with_logits(net.success_logit(z), won)
        losses["success"].append(loss_success.item())
        loss = loss + cfg.success_weight * loss_success
    losses["bins"].append(loss_bins.item())
    return loss


def view_subsets(views: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``views``: singles, pairs, ..., all (the fusion study)."""
    from itertools import combinations

    return [c for r in range(1, len(views) + 1) for c in combinations(views, r)]


def _auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC from the Mann-Whitney U statistic; None when a class is absent."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return None
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (len(pos) * len(neg)))


@torch.no_grad()
def evaluate_prm(
    model: ProcessRewardModel,
    data: FrameSet,
    subsets: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Spearman of predicted vs labelled progress over all frames and the success-vs-failure
    AUC of the final frames' potential, with all views and for each view subset.

    Returns:
        ``{"spearman", "success_auc", "hop_mae", "frames", "episodes", "per_views":
        {"front": {"spearman", "success_auc"}, "front+side": ..., ...}}``; an AUC is None
        when the episodes are all successes or all failures. With a trained success head,
        also ``"success_head_auc"``: the same AUC of its P(success) at the final frames.
    """
    net, views = model.net, model.config.views
    chunks = [
        net.encode(model.to_tensor(data.images[i : i + 512])) for i in range(0, len(data), 512)
    ]
    feats = torch.cat(chunks)
    finals = data.offsets[1:] - 1
    task = None if data.task is None else torch.from_numpy(data.task)

    def scores(view_set: Sequence[str]) -> tuple[dict[str, Any], torch.Tensor]:
        keep = torch.tensor([v in view_set for v in views])
        mask = torch.from_numpy(data.mask) & keep
        usable = mask.any(1)
        mask[~usable] = torch.from_numpy(data.mask)[~usable]  # rows without any: all they have
        z = net.fuse(feats, mask, task)
        phi = (torch.softmax(net.logits(z), -1) @ net.centers).double().numpy()
        if not np.isfinite(phi).all():
            raise NonFiniteRewardError(f"model {model.name!r} produced NaN or inf potentials")
        rho = stats.spearmanr(phi, data.label).statistic
        row = {
            "spearman": None if np.isnan(rho) else float(rho),
            "success_auc": _auc(phi[finals], data.success),
        }
        return row, z

    overall, z = scores(views)
    a = np.arange(len(data))
    b = np.minimum(a + 1, data.offsets[data.episode + 1] - 1)  # next frame, same episode
    hop = net.hop_pred(z[a], z[b]).double().numpy()
    per_views = {"+".join(s): scores(s)[0] for s in (subsets or view_subsets(views))}
    if "success" in model.trained_heads:
        won = torch.sigmoid(net.success_logit(z[torch.from_numpy(finals)])).double().numpy()
        overall["success_head_auc"] = _auc(won, data.success)
    return {
        **overall,
        "hop_mae": float(np.abs(hop - hop_target(data.label[a], data.label[b])).mean()),
        "frames": len(data),
        "episodes": len(data.success),
        "per_views": per_views,
    }


def adapt_prm(
    model: ProcessRewardModel,
    episode: Episode,
    *,
    steps: int = 150,
    lr: float = 3e-4,
    labels: str = "time",
    seed: int | None = None,
) -> dict[str, Any]:
    """One-shot adaptation: fine-tunes ``model`` on a single expert episode of a new variant.

    A multi-task model adapts the task it is conditioned on (`ProcessRewardModel.for_task`),
    or, with none chosen, the demo's own task.

    Args:
        episode: one expert demonstration of the unseen variant.
        steps: fine-tuning steps (all the demo's frame pairs, with view dropout and shifts).
        lr: learning rate, below training's so that one demo moves the model, not erases it.
        labels: ``"time"`` (default: a demo needs no privileged progress) or ``"progress"``.
    """
    return train_prm(
        model, frame_set(model, [episode], labels=labels), steps=steps, lr=lr, seed=seed
    )
