"""Approximate-time synchronization of joint states and camera frames."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.core.sync import ApproximateTimeSync


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


STREAMS = ("js", "front", "wrist")
QUEUE = 4  # small, so that the queue's bound is exercised too


@st.composite
def arrivals(draw):
    """Interleaved streams with mostly rising, jittered stamps (as sensors give; sets form
    often), now and then a stamp anywhere in [0, 10] (often an older one), a repeat, or a
    non-finite one: every branch of `add` is reached."""
    t, events = 0.0, []
    for _ in range(draw(st.integers(0, 80))):
        stream, kind = draw(st.sampled_from(STREAMS)), draw(st.integers(0, 24))
        if kind == 0:
            stamp = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        elif kind == 1:
            stamp = draw(st.floats(0, 10))
        elif kind == 2 and events:
            stamp = events[-1][1]
        else:
            t += draw(st.sampled_from([0.0, 0.002, 0.004, 0.01]))
            stamp = t + draw(st.sampled_from([0.0, 0.002, -0.002, 0.007, 0.013]))
        events.append((stream, stamp))
    return events


@settings(max_examples=300, deadline=None)
@given(arrivals(), st.one_of(st.sampled_from([0.0, 0.005, 0.01]), st.floats(0, 0.03)))
def test_every_message_is_counted_and_sets_are_emitted_exactly_when_the_policy_says(events, slop):
    """Checked on every call, a set or None: a discarded message is counted under its reason
    and changes nothing else; an accepted one is queued, and a set is emitted exactly when
    the nearest queued message of every stream (the module's policy) lies within slop of
    the others, with stamps strictly newer than any used before."""
    s = ApproximateTimeSync(STREAMS, slop, queue_size=QUEUE)
    queued = {k: [] for k in STREAMS}  # what the synchronizer must hold, oldest first
    last = {k: -math.inf for k in STREAMS}
    used = {k: -math.inf for k in STREAMS}
    emitted = 0
    for stream, t in events:
        c = s.counters
        before = (c.non_finite, c.duplicate, c.out_of_order, dict(c.per_stream), c.emitted)
        out = s.add(stream, t, (stream, t))
        after = (c.non_finite, c.duplicate, c.out_of_order, dict(c.per_stream), c.emitted)
        if not t > last[stream]:  # NaN, inf, -inf, a repeat or an older stamp: discarded
            assert out is None
            reason = 0 if not math.isfinite(t) else 1 if t == last[stream] else 2
            want = list(before)
            want[reason] += 1
            assert list(after) == want, (stream, t)
            assert s.last_stamp(stream) == last[stream]
            continue
        if not math.isfinite(t):  # +inf is newer than anything, and still refused
            assert out is None and after[0] == before[0] + 1
            continue
        assert after[3][stream] == before[3][stream] + 1 and after[:3] == before[:3]
        assert s.last_stamp(stream) == t
        last[stream] = t
        queued[stream] = (queued[stream] + [t])[-QUEUE:]
        # The policy: the arrival, and the nearest queued message of every other stream
        # (ties: the older, as min() over the queue picks).
        nearest = {
            k: t if k == stream else min(q, key=lambda u: abs(u - t))
            for k, q in queued.items()
            if q
        }
        fits = len(nearest) == len(STREAMS) and (
            max(nearest.values()) - min(nearest.values()) <= slop
        )
        if out is None:
            assert not fits, (nearest, slop)
            assert after[4] == before[4]
            continue
        assert fits and out.stamps == nearest, (out.stamps, nearest)
        assert out.items == {k: (k, v) for k, v in nearest.items()}
        assert out.spread <= slop and out.stamp == max(nearest.values())
        for k, v in out.stamps.items():
            assert v > used[k]  # every stream moves forward: no stamp is used twice
            used[k] = v
            queued[k] = [u for u in queued[k] if u > v]  # everything up to it is dropped
        emitted += 1
        assert after[4] == before[4] + 1
    assert s.counters.emitted == emitted


# --- the DDS adapter's state phase lock (hardware.core.clock.StatePhaseLock) ----------------------
def simulate_lock(state_period, control_period, phase, jitter, n, seed=0):
    """Step times and the age of the state each step used, for a robot publishing every
    ``state_period`` (with uniform arrival jitter) and a loop run by the lock."""
    from hardware.core.clock import StatePhaseLock

    lock = StatePhaseLock(control_period)
    rng = np.random.default_rng(seed)
    count = int(n * control_period / state_period) + 10
    arrivals = phase + state_period * np.arange(count) + rng.uniform(0, jitter, count)
    arrivals.sort()
    tick, steps, ages = 0.0, [], []
    for _ in range(n):
        newest = arrivals[arrivals <= tick]
        arrival = newest[-1] if len(newest) else None
        t = tick
        if not lock.fresh(tick, arrival):
            later = arrivals[(arrivals > tick) & (arrivals <= tick + lock.max_wait)]
            if len(later):
                arrival = t = later[0]
            else:
                t = tick + lock.max_wait
        steps.append(t)
        ages.append(np.nan if arrival is None else t - arrival)
        tick = lock.next_tick(tick, arrival)
    return np.array(steps), np.array(ages)


@pytest.mark.parametrize("state_hz", [100.0, 500.0, 1000.0, 50.0, 125.0, 30.0])
@pytest.mark.parametrize("phase", [0.0037, 0.0181, 0.0])
def test_phase_lock_runs_on_fresh_states_at_the_control_rate(state_hz, phase):
    steps, ages = simulate_lock(1 / state_hz, 0.02, phase=phase, jitter=0.0005, n=500)
    periods = np.diff(steps[10:])  # after the first states have arrived
    assert abs(periods.mean() - 0.02) < 2e-4  # the control rate is kept
    if (0.02 * state_hz) % 1 == 0:  # the state rate divides the control rate: no jitter
        assert np.abs(periods - 0.02).max() <= 0.001
    if state_hz >= 50:  # a state within every max_wait: each period ran on a fresh one
        assert ages[10:].max() <= 0.002


def test_phase_lock_falls_back_to_the_timer_without_states():
    from hardware.core.clock import StatePhaseLock

    lock = StatePhaseLock(0.05)
    assert lock.max_wait == 0.025 and not lock.fresh(1.0, None)
    assert lock.next_tick(1.0, None) == pytest.approx(1.05)
    assert lock.next_tick(1.0, 0.5) == pytest.approx(1.05)  # a stale state: plain timer
    assert lock.next_tick(1.0, 1.004) == pytest.approx(1.05)  # waited: the rate is kept
    assert lock.next_tick(1.0, 0.9995) == pytest.approx(1.05)  # fresh enough: no nudge
    assert lock.next_tick(1.0, 0.9985) == pytest.approx(1.05 - 0.0005)  # nudged earlier
    with pytest.raises(ValueError, match="window"):
        StatePhaseLock(0.02, window=0.03)
