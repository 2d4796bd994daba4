"""Preference batches: labelled pairs of segments as arrays, from labels and episodes.

The store keeps segment *references* (episode id, start, length); the reward model trains on
arrays. This joins them, so labels from scripted teachers and from people in the UI train the
model the same way. `PreferenceBatch` is the type every preference model
(`robopref.rewards.PreferenceRewardModel`) and query selector takes; it is NumPy only, so the
label store, the selectors and the UI never import torch for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from robopref.preferences.records import LABELS, Label

if TYPE_CHECKING:
    from robopref.data import Episode

__all__ = ["PreferenceBatch", "batch_from_labels", "batch_from_segments", "labels_to_targets"]

# The target each decisive label trains to; LABELS is contract 5's vocabulary.
_TARGETS = {"a": 1.0, "b": 0.0, "equal": 0.5}


class PreferenceBatch(NamedTuple):
    """Labelled pairs of segments of ``L`` steps (SB3-style typed batch).

    Attributes:
        obs_a: float32 ``(B, L, D)`` observations of segment A, one per step (the observation
            an action was taken in: ``Episode.state[:-1]`` of a segment).
        act_a: float32 ``(B, L, A)`` actions of segment A; may be None for a state-only model.
        obs_b: float32 ``(B, L, D)``, as ``obs_a`` for segment B.
        act_b: float32 ``(B, L, A)`` or None, as ``act_a`` for segment B.
        label: float32 ``(B,)`` target probability that A is better: 1.0 (A), 0.0 (B), 0.5
            (equal); other values in [0, 1] are soft targets (e.g. averaged annotators).
        weight: optional float32 ``(B,)`` non-negative loss weight per pair (default 1).
        noise: optional float32 ``(B,)`` label noise per pair in [0, 1), replacing the model's
            ``label_noise`` (each annotator's own, `robopref.preferences.calibration`).
        temperature: optional float32 ``(B,)`` in (0, 1]: the pair's annotator's rationality
            as a factor on the model's logit in the loss, ``P(A) = sigmoid(t * (R_A - R_B))``
            (B-Pref's stochastic teacher; `robopref.preferences.calibration.label_temperature`).
    """

    obs_a: np.ndarray
    act_a: np.ndarray | None
    obs_b: np.ndarray
    act_b: np.ndarray | None
    label: np.ndarray
    weight: np.ndarray | None = None
    noise: np.ndarray | None = None
    temperature: np.ndarray | None = None


def labels_to_targets(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Maps contract-5 labels to Bradley-Terry targets.

    Args:
        labels: one of ``"a"``, ``"b"``, ``"equal"``, ``"skip"`` per pair.

    Returns:
        ``(targets, mask)``: float32 targets (1.0, 0.0, 0.5) and a bool mask that is False
        for "skip". Skipped targets are NaN, so a forgotten mask fails `PreferenceBatch`
        validation loudly instead of training a skipped pair as if it were "equal".

    Raises:
        ValueError: on a label outside the vocabulary, naming it and the valid ones.
    """
    if isinstance(labels, str):
        raise ValueError(f"labels: expected a sequence of labels, got the string {labels!r}")
    targets = np.full(len(labels), np.nan, dtype=np.float32)
    mask = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(labels):
        if label not in LABELS:
            raise ValueError(f"labels[{i}]: unknown label {label!r}; valid labels: {LABELS}")
        if label != "skip":
            targets[i], mask[i] = _TARGETS[label], True
    return targets, mask


def batch_from_segments(
    segments_a: Sequence[Episode],
    segments_b: Sequence[Episode],
    labels: Sequence[str],
    view: str | None = None,
) -> PreferenceBatch:
    """Builds a batch from pairs of `robopref.data.Episode` segments and their labels.

    Step ``t`` pairs ``state[t]`` with ``action[t]`` (the last observation of a segment has no
    action and is left out). Pairs labelled "skip" are dropped. With ``view``, the
    observations are that camera's frames, flattened (for ``input="frames"`` models).

    Raises:
        ValueError: if the three sequences differ in length, segments differ in length
            (a batch has one ``L``), or a label is unknown.
    """
    if not len(segments_a) == len(segments_b) == len(labels):
        raise ValueError(
            f"batch_from_segments: got {len(segments_a)} A segments, {len(segments_b)} B "
            f"segments and {len(labels)} labels; expected one of each per pair"
        )
    targets, keep = labels_to_targets(labels)
    pairs = [(a, b) for a, b, k in zip(segments_a, segments_b, keep) if k]
    if not pairs:
        raise ValueError("batch_from_segments: no pairs left after dropping 'skip' labels")
    lengths = sorted({seg.length for pair in pairs for seg in pair})
    if len(lengths) > 1:
        raise ValueError(f"batch_from_segments: segments must share one length, got {lengths}")

    def stack(which: int, field: str) -> np.ndarray:
        if field == "state" and view is not None:
            missing = [p[which].episode_id for p in pairs if view not in p[which].frames]
            if missing:
                raise ValueError(f"batch_from_segments: no {view!r} frames in {missing[:3]}")
            rows = [p[which].frames[view].reshape(p[which].length + 1, -1) for p in pairs]
        else:
            rows = [getattr(p[which], field) for p in pairs]
        return np.stack([r[: lengths[0]] for r in rows]).astype(np.float32)

    return PreferenceBatch(
        stack(0, "state"), stack(0, "action"), stack(1, "state"), stack(1, "action"), targets[keep]
    )


def batch_from_labels(
    labels: Sequence[Label], episodes: Mapping[str, Episode], view: str | None = None
) -> PreferenceBatch:
    """The `PreferenceBatch` of stored labels (``skip`` labels dropped).

    Args:
        labels: rows of `LabelStore.labels`.
        episodes: the episodes their segments point into, by id (an `EpisodeStore` works
            through ``{i: store.load(i) for i in ids}``).
        view: train on this camera's frames instead of the state (``input="frames"``).

    Raises:
        ValueError: a label pointing at an episode not given, or every label a skip.
    """
    missing = sorted(
        {s.episode_id for lab in labels for s in (lab.seg_a, lab.seg_b)} - set(episodes)
    )
    if missing:
        raise ValueError(f"labels point at episodes that were not given: {missing[:5]}")

    def cut(ref):
        return episodes[ref.episode_id].segment(ref.start, ref.length)

    return batch_from_segments(
        [cut(lab.seg_a) for lab in labels],
        [cut(lab.seg_b) for lab in labels],
        [lab.label for lab in labels],
        view=view,
    )
