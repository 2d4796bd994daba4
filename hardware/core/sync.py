"""Approximate-time synchronization of several timestamped streams (joint states, cameras).

The same contract as ROS ``message_filters.ApproximateTimeSynchronizer``: emit one message
per stream whose header stamps all lie within ``slop`` seconds. The policy that follows is
simpler than message_filters' (which searches for the tightest set): each arrival is
matched with the nearest queued message of every other stream, the set is emitted if it
fits within ``slop``, and everything up to the emitted stamps is dropped. With joint states
much faster than cameras, as on every arm here, both give the same sets.

Per stream, a stamp not newer than the last one accepted is discarded and counted: a
duplicate (equal) or out of order (older). Those would otherwise let an old frame pair with
a new joint state, or make recorded timestamps run backwards.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SyncedSet:
    """One message per stream, stamps within the synchronizer's slop.

    Attributes:
        stamps: Stream name -> header stamp, seconds.
        items: Stream name -> the item given to :meth:`ApproximateTimeSync.add`.
    """

    stamps: dict[str, float]
    items: dict[str, Any]

    @property
    def stamp(self) -> float:
        """The newest stamp of the set."""
        return max(self.stamps.values())

    @property
    def spread(self) -> float:
        """Newest minus oldest stamp of the set, seconds."""
        return max(self.stamps.values()) - min(self.stamps.values())


@dataclass
class SyncCounters:
    """What the synchronizer discarded, per reason."""

    duplicate: int = 0
    out_of_order: int = 0
    non_finite: int = 0
    emitted: int = 0
    per_stream: dict[str, int] = field(default_factory=dict)


class ApproximateTimeSync:
    """Matches streams by header stamp.

    Args:
        streams: Stream names (e.g. ``["joint_states", "front"]``), each once.
        slop: Largest allowed spread of a set's stamps, seconds (>= 0).
        queue_size: Messages kept per stream while waiting for partners (>= 1).
    """

    def __init__(self, streams: Sequence[str], slop: float, queue_size: int = 10):
        streams = tuple(streams)
        if not streams or len(set(streams)) != len(streams):
            raise ValueError(f"streams must be unique and non-empty, got {list(streams)}")
        if not (math.isfinite(slop) and slop >= 0):
            raise ValueError(f"slop must be a finite number >= 0, got {slop!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.streams = streams
        self.slop = float(slop)
        self._queues: dict[str, deque] = {s: deque(maxlen=queue_size) for s in streams}
        self._last: dict[str, float] = {s: -math.inf for s in streams}
        self.counters = SyncCounters(per_stream={s: 0 for s in streams})

    def last_stamp(self, stream: str) -> float:
        """Stamp of the newest message accepted on ``stream`` (-inf before the first)."""
        return self._last[stream]

    def add(self, stream: str, stamp: float, item: Any) -> SyncedSet | None:
        """Offers one message; returns a complete set when this arrival completes one.

        Raises:
            ValueError: for an unknown stream name.
        """
        if stream not in self._queues:
            raise ValueError(f"unknown stream {stream!r}; valid: {list(self.streams)}")
        c = self.counters
        if not math.isfinite(stamp):
            c.non_finite += 1
            return None
        last = self._last[stream]
        if stamp <= last:
            if stamp == last:
                c.duplicate += 1
            else:
                c.out_of_order += 1
            return None
        self._last[stream] = stamp
        c.per_stream[stream] += 1
        self._queues[stream].append((stamp, item))
        chosen = {stream: (stamp, item)}
        for other, q in self._queues.items():
            if other == stream:
                continue
            if not q:
                return None
            chosen[other] = min(q, key=lambda e: abs(e[0] - stamp))
        stamps = {s: e[0] for s, e in chosen.items()}
        if max(stamps.values()) - min(stamps.values()) > self.slop:
            return None
        for s, q in self._queues.items():
            while q and q[0][0] <= stamps[s]:
                q.popleft()
        c.emitted += 1
        return SyncedSet(stamps, {s: e[1] for s, e in chosen.items()})
