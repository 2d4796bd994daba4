"""Injectable clocks: the bridge never reads the time itself, so tests can drive it.

``MonotonicClock`` is the real one (control timing must not jump with NTP); ``FakeClock``
moves only when told, which makes stale-data and rate tests exact and instant.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the bridge needs from a clock: a time in seconds and a way to wait for one."""

    def now(self) -> float: ...

    def sleep_until(self, t: float) -> None: ...


class MonotonicClock:
    """``time.monotonic`` with a sleep that returns at (or just after) ``t``."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class FakeClock:
    """A clock that advances only through :meth:`advance` or :meth:`sleep_until`.

    Args:
        start: Initial time in seconds.
    """

    def __init__(self, start: float = 0.0):
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, dt: float) -> float:
        """Moves time forward by ``dt`` seconds (>= 0); returns the new time."""
        if not dt >= 0:
            raise ValueError(f"a clock cannot go backwards: dt={dt!r}")
        self._t += float(dt)
        return self._t

    def sleep_until(self, t: float) -> None:
        self._t = max(self._t, float(t))


class StatePhaseLock:
    """When a control period runs: at its tick, or on the first joint state after the tick.

    A timer-driven loop acts on a joint state that has waited, on average, half a state
    period since it arrived (up to a whole one) when the robot publishes on its own
    schedule; ros2_control's read-update-write cycle avoids that by running on the fresh
    state. This does the same from outside the driver: at each tick, a state that arrived
    within ``window`` is fresh enough; otherwise the period waits for the next state (at
    most ``max_wait``) and runs on its arrival. Ticks stay one period apart, so the control
    rate is kept whatever the state rate; while states arrive within the window, small
    corrections (a quarter window at most) hold them no more than half a window before the
    tick. A
    robot that stops publishing leaves the loop on the plain timer (each period then waits
    ``max_wait``, and the freshness gate holds and faults as usual).

    Args:
        period: Control period, seconds.
        window: Age below which the newest state counts as fresh at a tick, seconds.
        max_wait: Longest wait for a state after a tick (default: half a period).
    """

    def __init__(self, period: float, window: float = 0.002, max_wait: float | None = None):
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period!r}")
        max_wait = period / 2 if max_wait is None else max_wait
        if not (0 < window < period and 0 <= max_wait < period):
            raise ValueError(
                f"need 0 < window ({window}) < period ({period}) and 0 <= max_wait "
                f"({max_wait}) < period"
            )
        self.period, self.window, self.max_wait = float(period), float(window), float(max_wait)

    def fresh(self, now: float, arrival: float | None) -> bool:
        """Whether the newest joint state (arrived at ``arrival``) is fresh at ``now``."""
        return arrival is not None and now - arrival <= self.window

    def next_tick(self, tick: float, arrival: float | None) -> float:
        """The tick after ``tick``, given the arrival of the state the period ran on."""
        nominal = tick + self.period
        if arrival is None or arrival < tick - self.window or arrival > tick:
            # No fresh state, or the period waited for one: the ticks keep the control rate
            # (moving them by the wait would slow it where the state rate does not divide it).
            return nominal
        # Fresh, but older than half the window: the next tick comes a little earlier (a
        # quarter window at most, so the period barely moves), which holds a state stream
        # of the control rate's phase inside the window despite the robot's jitter and clock
        # drift, instead of in and out of it (alternate waits and no waits: jitter). Never
        # later: faster streams are fresh at any phase.
        age = tick - arrival
        return nominal - min(max(age - self.window / 2, 0.0), self.window / 4)
