"""Approximate-time synchronization of joint states and camera frames."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.sync import ApproximateTimeSync


def test_sets_are_emitted_within_slop_and_pair_nearest_stamps():
    s = ApproximateTimeSync(["js", "cam"], slop=0.006)
    for t in (1.00, 1.01, 1.02, 1.03):
        assert s.add("js", t, f"js{t}") is None  # no frame yet
    out = s.add("cam", 1.021, "cam1")
    assert out is not None and out.items == {"js": "js1.02", "cam": "cam1"}
    assert out.stamps == {"js": 1.02, "cam": 1.021} and out.spread == pytest.approx(0.001)
    assert out.stamp == 1.021
    # A frame with no joint state within the slop is not matched...
    assert s.add("cam", 1.05, "cam2") is None
    # ...until one arrives.
    out = s.add("js", 1.049, "js1.049")
    assert out.items == {"js": "js1.049", "cam": "cam2"}


def test_duplicate_and_out_of_order_stamps_are_discarded_and_counted():
    s = ApproximateTimeSync(["js", "cam"], slop=0.01)
    s.add("js", 2.0, "a")
    assert s.add("js", 2.0, "dup") is None
    assert s.add("js", 1.5, "old") is None
    assert s.add("js", math.nan, "nan") is None
    assert (s.counters.duplicate, s.counters.out_of_order, s.counters.non_finite) == (1, 1, 1)
    assert s.add("cam", 2.001, "f").items["js"] == "a"
    # After a set is emitted, nothing older can pair again.
    assert s.add("cam", 1.9, "late frame") is None and s.counters.out_of_order == 2


def test_single_stream_emits_every_new_message():
    s = ApproximateTimeSync(["js"], slop=0.0)
    assert [s.add("js", t, t).items["js"] for t in (1.0, 2.0, 3.0)] == [1.0, 2.0, 3.0]


def test_bad_construction_and_unknown_stream():
    with pytest.raises(ValueError, match="unique"):
        ApproximateTimeSync(["a", "a"], 0.1)
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimeSync(["a"], -1)
    with pytest.raises(ValueError, match="queue_size"):
        ApproximateTimeSync(["a"], 0.1, queue_size=0)
    with pytest.raises(ValueError, match="unknown stream 'b'"):
        ApproximateTimeSync(["a"], 0.1).add("b", 1.0, None)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["js", "front", "wrist"]), st.floats(0, 10, allow_nan=False)),
        max_size=80,
    ),
    st.floats(0, 0.5),
)
def test_emitted_sets_are_within_slop_and_strictly_newer(events, slop):
    s = ApproximateTimeSync(["js", "front", "wrist"], slop)
    last = {k: -np.inf for k in s.streams}
    for stream, t in events:
        out = s.add(stream, t, (stream, t))
        if out is None:
            continue
        assert out.spread <= slop
        for k, v in out.stamps.items():
            assert out.items[k] == (k, v)
            assert v > last[k]  # every stream moves forward: no stamp is used twice
            last[k] = v
