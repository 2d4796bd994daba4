"""Stored labels train the preference model: `batch_from_labels`."""

from __future__ import annotations

import numpy as np
import pytest

from robopref.data import Episode
from robopref.preferences import LabelStore, SegmentRef, batch_from_labels


def episode(eid: str, rng) -> Episode:
    t = 12
    return Episode(
        state=rng.standard_normal((t + 1, 3)),
        action=rng.uniform(-1, 1, (t, 2)),
        reward=np.zeros(t, np.float32),
        success=np.zeros(t, bool),
        timestamp=np.arange(t + 1) / 20,
        metadata={
            "task": "t",
            "source": "random",
            "backend": "test",
            "seed": 0,
            "robot": "none",
            "control_hz": 20.0,
        },
        episode_id=eid,
    )


def test_labels_from_the_store_become_a_batch(tmp_path):
    rng = np.random.default_rng(0)
    eps = {i: episode(i, rng) for i in ("e1", "e2")}
    with LabelStore(tmp_path / "labels.db") as store:
        q1 = store.add_query(SegmentRef("e1", 0, 5), SegmentRef("e2", 3, 5), "uniform")
        q2 = store.add_query(SegmentRef("e2", 0, 5), SegmentRef("e1", 7, 5), "uniform")
        q3 = store.add_query(SegmentRef("e1", 2, 5), SegmentRef("e2", 2, 5), "uniform")
        store.add_label(q1, "a", "ann", source="ui")
        store.add_label(q2, "equal", "ann", source="ui")
        store.add_label(q3, "skip", "ann", source="ui")
        labels = store.labels()
    batch = batch_from_labels(labels, eps)
    assert batch.obs_a.shape == (2, 5, 3) and batch.act_b.shape == (2, 5, 2)
    np.testing.assert_array_equal(batch.label, [1.0, 0.5])
    np.testing.assert_array_equal(batch.obs_b[0], eps["e2"].state[3:8])
    with pytest.raises(ValueError, match="not given: \\['e2'\\]"):
        batch_from_labels(labels, {"e1": eps["e1"]})
