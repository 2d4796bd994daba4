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
