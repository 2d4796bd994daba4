"""The clip cache: each query segment encoded once per camera, in the run's ``clips/``.

File names are derived from the segment and camera, so every server (and every restart)
finds what another encoded: ``<episode_id>~<start>-<length>~<camera>.<codec><suffix>``, e.g.
``3fa2~40-25~front.h264.mp4``. ``~`` cannot occur in episode ids or camera names, so the name
is unambiguous. After a segment's clips are written, a manifest
``<episode_id>~<start>-<length>.<codec>.json`` records its cameras, frame rate and task; a
segment counts as cached only once its manifest exists, so a crash mid-segment re-encodes
it. Every file is written atomically (`robopref.data.storage.atomic_path`).

`ClipCache.prefetch` encodes a query in a background thread, so that by the time the
annotator reaches it, serving it is a few file checks.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from robopref.data import Episode, EpisodeStore
from robopref.data.storage import EpisodeFormatError, atomic_path
from robopref.data.video import CODECS, encode_clip
from robopref.preferences import Query, SegmentRef
from robopref.runs import RunPaths

log = logging.getLogger(__name__)

#: Decoded episodes kept in memory (real-robot episodes can be large; queries tend to reuse
#: the few most recent episodes of the trainer's pool).
EPISODE_CACHE = 4


@dataclass(frozen=True)
class SegmentMedia:
    """What the page needs to show one segment: a clip file name per camera, or why not."""

    episode_id: str
    start: int
    length: int
    fps: float = 0.0
    task: str = ""
    description: str = ""
    """The task's instruction as the episode recorded it (``task_description``), or empty."""
    cameras: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class ClipCache:
    """Encodes query segments into the run's ``clips/`` folder, once, and prefetches.

    Safe to use from many threads: a segment being encoded is locked, so a request for it
    waits for that encoding instead of starting a second one.

    Args:
        run: the run whose ``episodes/`` the segments point into and whose ``clips/`` is
            the cache.
        codec: ``h264`` or ``vp9`` (`robopref.data.video.CODECS`).
        min_size: clips are upscaled until their shorter side has this many pixels.
        workers: ffmpeg processes run at once for one query's clips.
    """

    def __init__(self, run: RunPaths, codec: str = "h264", min_size: int = 168, workers: int = 2):
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; valid: {sorted(CODECS)}")
        self.dir = run.clips
        self.dir.mkdir(parents=True, exist_ok=True)
        self.codec, self.min_size = codec, min_size
        self.suffix = CODECS[codec]["suffix"]
        self.episodes = EpisodeStore(run.episodes)
        self._lock = threading.Lock()
        self._segment_locks: dict[SegmentRef, threading.Lock] = {}
        self._memo: dict[SegmentRef, SegmentMedia] = {}
        self._loaded: collections.OrderedDict[str, Episode] = collections.OrderedDict()
        self._load_lock = threading.Lock()
        self._prefetching: set[int] = set()
        self._encoder = ThreadPoolExecutor(workers, thread_name_prefix="robopref-clip-encode")
        self._prefetcher = ThreadPoolExecutor(1, thread_name_prefix="robopref-clip-prefetch")
        self.encoded = 0  # clips this process encoded (for /api/health and the tests)

    # ------------------------------------------------------------------ names
    def _stem(self, ref: SegmentRef) -> str:
        return f"{ref.episode_id}~{ref.start}-{ref.length}"

    def clip_name(self, ref: SegmentRef, camera: str) -> str:
        """The cache file name of ``ref``'s clip of ``camera``."""
        return f"{self._stem(ref)}~{camera}.{self.codec}{self.suffix}"

    def manifest_path(self, ref: SegmentRef) -> Path:
        return self.dir / f"{self._stem(ref)}.{self.codec}.json"

    # ------------------------------------------------------------------ segments
    def segment(self, ref: SegmentRef) -> SegmentMedia:
        """``ref``'s clips, encoding them first if they are not cached yet.

        Never raises for a bad segment: a missing or corrupt episode, an out-of-range
        segment or a failed encoding comes back as ``SegmentMedia.error`` (the page then
        says so and still lets the annotator skip the query).
        """
        ref = SegmentRef(*ref)
        media = self._cached(ref)
        if media is not None:
            return media
        with self._lock:  # locks are kept: a few bytes per segment ever served
            seg_lock = self._segment_locks.setdefault(ref, threading.Lock())
        with seg_lock:
            media = self._cached(ref)  # another thread may have just encoded it
            if media is None:
                media = self._encode(ref)
                if media.error is None:
                    with self._lock:
                        self._memo[ref] = media
        return media

    def _complete(self, media: SegmentMedia) -> bool:
        return all((self.dir / name).is_file() for name in media.files.values())

    def _cached(self, ref: SegmentRef) -> SegmentMedia | None:
        with self._lock:
            media = self._memo.get(ref)
        if media is not None and self._complete(media):
            return media
        try:
            data = json.loads(self.manifest_path(ref).read_text())
            media = SegmentMedia(**{**data, "cameras": tuple(data["cameras"])})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.warning("re-encoding %s: unreadable manifest (%s)", self._stem(ref), e)
            return None
        if media.files != {c: self.clip_name(ref, c) for c in media.cameras}:
            return None  # written by another version with another naming; re-encode
        if not self._complete(media):
            return None  # a clip was deleted by hand: re-encode the segment
        with self._lock:
            self._memo[ref] = media
        return media

    def _episode(self, episode_id: str) -> Episode:
        with self._load_lock:
            ep = self._loaded.get(episode_id)
            if ep is None:
                ep = self.episodes.load(episode_id)
                self._loaded[episode_id] = ep
                while len(self._loaded) > EPISODE_CACHE:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(episode_id)
            return ep

    def _encode(self, ref: SegmentRef) -> SegmentMedia:
        base = SegmentMedia(ref.episode_id, ref.start, ref.length)
        try:
            ep = self._episode(ref.episode_id)
            seg = ep.segment(ref.start, ref.length)
        except KeyError:
            return _with_error(base, f"episode {ref.episode_id} is not in {self.episodes.root}")
        except EpisodeFormatError as e:
            return _with_error(base, f"episode {ref.episode_id} is unreadable: {e}")
        except ValueError as e:  # the segment is out of the episode's range
            return _with_error(base, str(e))
        fps = float(ep.metadata["control_hz"])
        jobs = {
            camera: self._encoder.submit(
                encode_clip,
                frames,
                self.dir / self.clip_name(ref, camera),
                fps=fps,
                codec=self.codec,
                min_size=self.min_size,
            )
            for camera, frames in seg.frames.items()
        }
        errors = []
        for camera, job in jobs.items():
            try:
                job.result()
            except (RuntimeError, ValueError, OSError) as e:
                errors.append(f"{camera}: {e}")
        if errors:
            log.error("encoding %s failed: %s", self._stem(ref), "; ".join(errors))
            return _with_error(base, "encoding failed: " + "; ".join(errors))
        with self._lock:
            self.encoded += len(jobs)
        media = SegmentMedia(
            ref.episode_id,
            ref.start,
            ref.length,
            fps=fps,
            task=str(ep.metadata["task"]),
            description=str(ep.metadata.get("task_description") or ""),
            cameras=seg.cameras,
            files={c: self.clip_name(ref, c) for c in seg.cameras},
        )
        # The manifest goes last: its presence means every clip above is complete.
        with atomic_path(self.manifest_path(ref)) as tmp:
            tmp.write_text(json.dumps(asdict(media)))
        return media

    # ------------------------------------------------------------------ queries
    def query(self, query: Query) -> tuple[SegmentMedia, SegmentMedia]:
        """Both segments' media, encoding what is not cached yet."""
        return self.segment(query.seg_a), self.segment(query.seg_b)

    def prefetch(self, query: Query) -> None:
        """Encodes ``query``'s clips in the background (no-op if already under way)."""
        with self._lock:
            if query.id in self._prefetching:
                return
            self._prefetching.add(query.id)

        def run() -> None:
            try:
                self.segment(query.seg_a)
                self.segment(query.seg_b)
            finally:
                with self._lock:
                    self._prefetching.discard(query.id)

        self._prefetcher.submit(run).add_done_callback(_log_failure)

    @property
    def prefetching(self) -> int:
        """Queries whose prefetch has not finished."""
        with self._lock:
            return len(self._prefetching)

    def close(self) -> None:
        """Stops the background threads (an encoding under way finishes; its file is whole)."""
        self._prefetcher.shutdown(wait=False, cancel_futures=True)
        self._encoder.shutdown(wait=False, cancel_futures=True)


def _with_error(media: SegmentMedia, error: str) -> SegmentMedia:
    return SegmentMedia(media.episode_id, media.start, media.length, error=error)


def _log_failure(fut: Future) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("prefetch failed", exc_info=fut.exception())
