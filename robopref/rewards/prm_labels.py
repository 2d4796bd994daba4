"""People's labels for the camera model: a run's labelled segments as PRM training pairs.

`robopref reward finetune-prm PRM --labels RUN` (issue 14) fine-tunes a process reward
model on the label store of a run directory (`robopref.runs.RunPaths`):

* ``labels.sqlite`` holds each query's two segments as ``(episode id, start, length)`` and
  its labels (`robopref.preferences.LabelStore`);
* ``episodes/`` holds the episodes those segments point into (`robopref.data.EpisodeStore`):
  the trainer saves each queried episode there, with its camera frames when it recorded
  them (a run whose teacher is a person, ``--teacher human``); episodes imported for
  labelling (``robopref label RUN --episodes DIR``) keep what they were recorded with
  (``robopref rollout`` and the bridge record frames). A run labelled by a scripted teacher
  keeps states only: its segments have no frames for the PRM, and that is an error that
  says so.

Each labelled segment becomes ``max_frames`` of its observations, evenly spaced (`SegmentPairs`);
each decisive label (``a``, ``b``, ``equal``; skips train nothing) one pair. `finetune_prm`
trains the preference head's Bradley-Terry loss, the success head on those frames, and, when
no progress-labelled episodes are given to keep training on, a term that holds the progress
bins where they were (so the potential does not drift where no progress label speaks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from robopref.data import Episode, EpisodeStore
from robopref.preferences import Label, LabelStore
from robopref.rewards.prm import ProcessRewardModel
from robopref.rewards.prm_train import FrameSet, SegmentPairs, frame_success, train_prm
from robopref.runs import RunPaths

__all__ = [
    "finetune_prm",
    "load_run_pairs",
    "pair_accuracy",
    "pairs_from_labels",
    "reference_bins",
]

#: What each decisive label trains P(A better) to (contract 5's vocabulary).
_TARGETS = {"a": 1.0, "b": 0.0, "equal": 0.5}
_CHUNK = 512


def _ids(labels: Sequence[Label]) -> list[str]:
    return sorted({s.episode_id for lab in labels for s in (lab.seg_a, lab.seg_b)})


def pairs_from_labels(
    model: ProcessRewardModel,
    labels: Sequence[Label],
    episodes: Mapping[str, Episode] | EpisodeStore,
    *,
    max_frames: int = 16,
    skip_missing: bool = False,
    where: str = "the episodes given",
) -> tuple[SegmentPairs, dict[str, Any]]:
    """The `SegmentPairs` of ``labels``' decisive answers, with the frames of ``episodes``.

    Args:
        model: the PRM (its views and image size shape the frames).
        labels: rows of `LabelStore.labels`; skips are dropped.
        episodes: the episodes the segments point into (by id), or an `EpisodeStore`.
        max_frames: observations kept per segment, evenly spaced from first to last.
        skip_missing: train on the labels whose episodes are there and have frames, and
            report the rest, instead of refusing.
        where: names the episodes' source in errors (a directory).

    Returns:
        The pairs, and a report: ``labels`` (decisive), ``skips``, ``used``,
        ``skipped_labels``, ``missing_episodes``, ``episodes_without_frames``, ``frames``.

    Raises:
        ValueError: no decisive label; labels whose episodes are missing or have none of the
            model's camera views (saying which and how many) unless ``skip_missing``; a
            segment outside its episode; an episode of another task than the model's.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"max_frames must be an int >= 1, got {max_frames!r}")
    views = model.config.views
    decisive = [lab for lab in labels if lab.label != "skip"]
    if not decisive:
        raise ValueError(
            f"no labels to train on in {where}: {len(labels)} labels, all 'skip' (a skip "
            "trains nothing)"
        )
    load = episodes.load if isinstance(episodes, EpisodeStore) else episodes.__getitem__
    loaded: dict[str, Episode] = {}
    missing, frameless = [], []
    for episode_id in _ids(decisive):
        try:
            ep = load(episode_id)
        except KeyError:
            missing.append(episode_id)
            continue
        if not any(v in ep.frames for v in views):
            frameless.append(episode_id)
            continue
        if model.task and ep.metadata.get("task") != model.task:
            raise ValueError(
                f"episode {episode_id} in {where} is of task {ep.metadata.get('task')!r}, "
                f"but the PRM {model.name!r} was trained for {model.task!r}"
            )
        loaded[episode_id] = ep
    bad = set(missing) | set(frameless)
    hit = [lab for lab in decisive if {lab.seg_a.episode_id, lab.seg_b.episode_id} & bad]
    if hit and not skip_missing:
        problems = []
        if missing:
            n = sum(1 for lab in hit if set(_ids([lab])) & set(missing))
            problems.append(
                f"{n} of {len(decisive)} labels point at {len(missing)} episode(s) missing from "
                f"{where}: {missing[:5]}"
            )
        if frameless:
            n = sum(1 for lab in hit if set(_ids([lab])) & set(frameless))
            problems.append(
                f"{n} of {len(decisive)} labels have segments in {len(frameless)} episode(s) "
                f"without camera frames of views {list(views)} (states only): "
                f"{frameless[:5]}; a run keeps frames when people label it (--teacher human) "
                "or when its episodes were recorded with cameras and imported (robopref "
                "label RUN --episodes DIR); a scripted teacher's run keeps states only"
            )
        raise ValueError("; ".join(problems) + "; --skip-missing trains on the other labels")
    usable = [lab for lab in decisive if lab not in hit]
    if not usable:
        raise ValueError(
            f"none of the {len(decisive)} labels in {where} has both segments' frames "
            f"({len(missing)} episodes missing, {len(frameless)} without frames)"
        )

    # Each segment: max_frames observation rows; each (episode, row) stored once.
    def rows_of(lab: Label, seg: Any) -> np.ndarray:
        ep = loaded[seg.episode_id]
        if seg.start < 0 or seg.start + seg.length > ep.length:
            raise ValueError(
                f"label {lab.id} (query {lab.query_id}): segment {tuple(seg)} is outside "
                f"episode {seg.episode_id} of {ep.length} steps"
            )
        return np.rint(np.linspace(seg.start, seg.start + seg.length, max_frames)).astype(int)

    wanted: dict[str, set[int]] = {}
    seg_rows = [[rows_of(lab, s) for s in (lab.seg_a, lab.seg_b)] for lab in usable]
    for lab, pair_rows in zip(usable, seg_rows):
        for seg, r in zip((lab.seg_a, lab.seg_b), pair_rows):
            wanted.setdefault(seg.episode_id, set()).update(r.tolist())
    images, masks, wins, index = [], [], [], {}
    offset = 0
    for episode_id, wanted_rows in wanted.items():
        ep, rows = loaded[episode_id], np.array(sorted(wanted_rows))
        im, mask, _ = model.images({v: f[rows] for v, f in ep.frames.items() if v in views})
        images.append(im)
        masks.append(mask)
        wins.append(frame_success(ep)[rows])
        index[episode_id] = {int(r): offset + i for i, r in enumerate(rows)}
        offset += len(rows)

    def table_rows(which: int) -> np.ndarray:
        return np.array(
            [
                [index[(lab.seg_a, lab.seg_b)[which].episode_id][r] for r in rows[which].tolist()]
                for lab, rows in zip(usable, seg_rows)
            ],
            dtype=np.int64,
        )

    pairs = SegmentPairs(
        images=np.concatenate(images),
        mask=np.concatenate(masks),
        success=np.concatenate(wins),
        rows_a=table_rows(0),
        rows_b=table_rows(1),
        target=np.array([_TARGETS[lab.label] for lab in usable], np.float32),
    )
    report = {
        "labels": len(decisive),
        "skips": len(labels) - len(decisive),
        "used": len(usable),
        "skipped_labels": len(hit),
        "missing_episodes": missing,
        "episodes_without_frames": frameless,
        "frames": offset,
    }
    return pairs, report


def load_run_pairs(
    model: ProcessRewardModel,
    run_dir: str | os.PathLike[str],
    *,
    max_frames: int = 16,
    skip_missing: bool = False,
    model_path: str = "",
) -> tuple[SegmentPairs, dict[str, Any]]:
    """`pairs_from_labels` of a run directory's label store and episodes.

    Opens the label store only if it exists (it is never created here).

    Raises:
        FileNotFoundError: no run directory, or no ``labels.sqlite`` in it.
        ValueError: a run of another task than the model's (naming ``model_path``), no
            labels, or what `pairs_from_labels` refuses.
    """
    run = RunPaths.of(run_dir)
    if not run.root.is_dir():
        raise FileNotFoundError(f"no run directory at {run.root}")
    if not run.labels.is_file():
        raise FileNotFoundError(
            f"{run.root} has no label store ({run.labels} is missing): label the run first "
            "(robopref label RUN, or a run trained with a teacher)"
        )
    if run.config.exists() and model.task:
        task = run.task()
        if task != model.task:
            raise ValueError(
                f"{model_path or model.name}: a PRM of task {model.task!r}, but {run.root} is "
                f"a run of task {task!r}"
            )
    with LabelStore(run.labels) as store:
        labels, counts = store.labels(), store.counts()
    if not labels:
        raise ValueError(
            f"{run.labels}: no labels yet ({counts.queries} queries, {counts.queued} open); "
            "answer some first (robopref label RUN)"
        )
    if not run.episodes.is_dir():
        raise FileNotFoundError(
            f"{run.root} has labels but no episodes directory ({run.episodes}): the labelled "
            "segments' episodes are missing"
        )
    return pairs_from_labels(
        model,
        labels,
        EpisodeStore(run.episodes),
        max_frames=max_frames,
        skip_missing=skip_missing,
        where=str(run.episodes),
    )


@torch.no_grad()
def reference_bins(model: ProcessRewardModel, pairs: SegmentPairs) -> np.ndarray:
    """The model's progress distribution on every frame of ``pairs``, float32 ``(M, K)``."""
    net = model.net
    net.eval()
    out = []
    for i in range(0, len(pairs.images), _CHUNK):
        x = model.to_tensor(pairs.images[i : i + _CHUNK])
        z = net.fuse(
            net.encode(x), torch.from_numpy(pairs.mask[i : i + _CHUNK]), model.task_index(len(x))
        )
        out.append(torch.softmax(net.logits(z), -1))
    return torch.cat(out).numpy()


@torch.no_grad()
def pair_accuracy(model: ProcessRewardModel, pairs: SegmentPairs) -> float | None:
    """Share of decisive pairs (target 0 or 1) the preference head orders as labelled, each
    segment scored by the mean over all its frames; None when no pair is decisive."""
    net = model.net
    scores = []
    for i in range(0, len(pairs.images), _CHUNK):
        x = model.to_tensor(pairs.images[i : i + _CHUNK])
        z = net.fuse(
            net.encode(x), torch.from_numpy(pairs.mask[i : i + _CHUNK]), model.task_index(len(x))
        )
        scores.append(net.preference_score(z))
    frame = torch.cat(scores).double().numpy()
    diff = frame[pairs.rows_a].mean(1) - frame[pairs.rows_b].mean(1)
    decisive = pairs.target != 0.5
    if not decisive.any():
        return None
    return float(np.mean((diff[decisive] > 0) == (pairs.target[decisive] > 0.5)))


def finetune_prm(
    model: ProcessRewardModel,
    pairs: SegmentPairs,
    *,
    steps: int = 200,
    lr: float = 3e-4,
    data: FrameSet | None = None,
    keep_weight: float = 1.0,
    seed: int | None = None,
) -> dict[str, Any]:
    """Fine-tunes ``model`` on labelled pairs (`train_prm` with ``pairs``); returns its summary.

    A multi-task model needs its task chosen (`ProcessRewardModel.for_task`): the pairs, of
    one run, are conditioned on it.

    Args:
        pairs: from `pairs_from_labels` or `load_run_pairs`.
        steps: gradient steps.
        lr: learning rate, below training's (the model is trained already).
        data: progress-labelled frames to keep training the progress head on, or None.
        keep_weight: without ``data``, the weight of the term that keeps the progress bins
            on the pairs' frames where they were before fine-tuning (0: let them move).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if data is None and keep_weight:
        pairs.ref_bins = reference_bins(model, pairs)
    return train_prm(
        model,
        data,
        pairs=pairs,
        steps=steps,
        lr=lr,
        seed=seed,
        keep_weight=keep_weight if data is None else 0.0,
    )
