"""From stored labels to a training batch: the label store meets the preference model.

The store keeps segment *references* (episode id, start, length); the reward model trains on
arrays. This joins them, so labels from scripted teachers and from people in the UI train the
model the same way. torch is imported only when a batch is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from robopref.preferences.records import Label

if TYPE_CHECKING:
    from robopref.data import Episode
    from robopref.rewards.preference import PreferenceBatch


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
    from robopref.rewards.preference import batch_from_segments

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
