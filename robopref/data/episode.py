"""The `Episode`: one type for sim rollouts, scripted demos and real-robot recordings.

An episode of ``T`` steps holds everything observed from ``reset`` through the final step
(``T + 1`` rows: ``state``, ``timestamp``, per-camera ``frames``, ``progress``) and everything
done or reported per step (``T`` rows: ``action``, ``reward``, ``success``). Row ``t`` of the
per-step arrays belongs to the transition from observation ``t`` to observation ``t + 1``.

Construction validates and coerces, so every consumer (reward models, the query UI, the
learner, the on-disk format in `robopref.data.storage`) can rely on the shapes and dtypes
below without checking again. Nothing here knows which simulator, if any, made an episode.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import re
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Metadata keys every episode carries (free extra keys are allowed).
REQUIRED_METADATA = ("task", "source", "backend", "seed", "robot", "control_hz")

# Episode ids and camera names become file names (`<id>.episode.npz`, `<id>_<camera>.mp4`)
# and zip member names, so they are restricted to characters that are safe in all three.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape} dtype {a.dtype}"


def _as_real(field: str, value: Any, dtype: type, ndim: int) -> np.ndarray:
    """Converts ``value`` to a ``dtype`` array of rank ``ndim``; refuses non-numeric input."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{field}: expected a real numeric array, got {_describe(a)}")
    if a.ndim != ndim:
        raise ValueError(f"{field}: expected a {ndim}-D array, got {_describe(a)}")
    return a.astype(dtype, copy=False)


def _check_rows(field: str, a: np.ndarray, rows: int, what: str) -> None:
    if a.shape[0] != rows:
        raise ValueError(f"{field}: expected {rows} rows ({what}), got {_describe(a)}")


def _check_name(field: str, name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"{field}: {name!r} is not a valid name; expected 1-128 characters from "
            "[A-Za-z0-9_.-] starting with a letter or digit (it becomes part of file names)"
        )


def _normalize_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata: expected a dict, got {type(metadata).__name__}")
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(
            f"metadata: missing required keys {missing}; every episode needs "
            f"{list(REQUIRED_METADATA)} (extra keys are allowed)"
        )
    md = dict(metadata)
    seed = md["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"metadata['seed']: expected an int or None, got {seed!r}")
    md["seed"] = None if seed is None else int(seed)
    hz = md["control_hz"]
    if (
        isinstance(hz, bool)
        or not isinstance(hz, numbers.Real)
        or not np.isfinite(float(hz))
        or hz <= 0
    ):
        raise ValueError(f"metadata['control_hz']: expected a positive number, got {hz!r}")
    md["control_hz"] = float(hz) if not isinstance(hz, numbers.Integral) else int(hz)
    for key in ("task", "source", "backend", "robot"):
        if not isinstance(md[key], str) or not md[key]:
            raise ValueError(f"metadata[{key!r}]: expected a non-empty str, got {md[key]!r}")
    # A JSON round trip here (strict JSON: no NaN) makes the in-memory metadata identical to
    # what `load_episode` returns (tuples become lists, ...) and decouples it from the caller.
    try:
        return json.loads(json.dumps(md, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata: must be strict-JSON serializable: {e}") from e


@dataclasses.dataclass(eq=False, kw_only=True)
class Episode:
    """One recorded episode of ``T`` steps.

    Attributes:
        state: float32 ``(T+1, S)`` observation "state" vectors from reset to the end.
        action: float32 ``(T, A)`` actions taken.
        reward: float32 ``(T,)`` task reward; NaN where unknown (real robot).
        success: bool ``(T,)`` ``info["success"]`` after each step.
        timestamp: float64 ``(T+1,)`` seconds (sim time or wall/ROS time), non-decreasing.
        metadata: JSON-serializable dict with at least ``task``, ``source`` ("expert",
            "policy", "random", "real", ...), ``backend`` ("mujoco", "bullet", "real", ...),
            ``seed`` (int or None), ``robot`` and ``control_hz`` (> 0); extra keys allowed.
        frames: camera name -> uint8 ``(T+1, H, W, 3)``; empty for state-only episodes.
        progress: optional float32 ``(T+1,)`` privileged sim progress in [0, 1]; None on the
            real robot. For evaluation and scripted labels only, never a policy input.
        terminated: the episode ended in a terminal state.
        truncated: the episode was cut (time limit, operator stop) without terminating.
        episode_id: unique id; a uuid4 hex string by default.

    Raises:
        ValueError: naming the field, its shape/dtype and what was expected, when any field
            is malformed (including non-finite state or action).
    """

    state: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    success: np.ndarray
    timestamp: np.ndarray
    metadata: dict[str, Any]
    frames: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    progress: np.ndarray | None = None
    terminated: bool = False
    truncated: bool = False
    episode_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        _check_name("episode_id", self.episode_id)
        self.action = _as_real("action", self.action, np.float32, 2)
        t = self.action.shape[0]
        if t < 1 or self.action.shape[1] < 1:
            raise ValueError(
                f"action: expected shape (T, A) with T >= 1 and A >= 1, got "
                f"{_describe(self.action)}"
            )
        if not np.isfinite(self.action).all():
            raise ValueError(f"action: contains NaN or inf ({_describe(self.action)})")

        self.state = _as_real("state", self.state, np.float32, 2)
        _check_rows("state", self.state, t + 1, "T + 1 observations, T from action")
        if self.state.shape[1] < 1:
            raise ValueError(
                f"state: expected shape (T+1, S) with S >= 1, got {_describe(self.state)}"
            )
        if not np.isfinite(self.state).all():
            raise ValueError(f"state: contains NaN or inf ({_describe(self.state)})")

        self.reward = _as_real("reward", self.reward, np.float32, 1)
        _check_rows("reward", self.reward, t, "one per step, T from action")
        if np.isinf(self.reward).any():
            raise ValueError("reward: contains inf; use NaN for an unknown reward")

        self.success = self._coerce_success(self.success, t)

        self.timestamp = _as_real("timestamp", self.timestamp, np.float64, 1)
        _check_rows("timestamp", self.timestamp, t + 1, "T + 1 observations, T from action")
        if not np.isfinite(self.timestamp).all():
            raise ValueError("timestamp: contains NaN or inf")
        if (np.diff(self.timestamp) < 0).any():
            raise ValueError("timestamp: expected non-decreasing times, got a step backwards")

        if self.progress is not None:
            self.progress = _as_real("progress", self.progress, np.float32, 1)
            _check_rows("progress", self.progress, t + 1, "T + 1 observations, T from action")
            p = self.progress
            if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
                raise ValueError("progress: expected finite values in [0, 1] (or None)")

        self.frames = self._coerce_frames(self.frames, t)
        for flag in ("terminated", "truncated"):
            value = getattr(self, flag)
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"{flag}: expected a bool, got {value!r}")
            setattr(self, flag, bool(value))
        self.metadata = _normalize_metadata(self.metadata)

    @staticmethod
    def _coerce_success(value: Any, t: int) -> np.ndarray:
        a = np.asarray(value)
        if a.dtype != np.bool_:
            # 0/1 integers (e.g. from a ROS message) are fine; anything else is a bug upstream.
            if a.dtype.kind not in "iuf" or not np.isin(a, (0, 1)).all():
                raise ValueError(f"success: expected a bool array (or 0/1), got {_describe(a)}")
            a = a.astype(np.bool_)
        if a.ndim != 1:
            raise ValueError(f"success: expected a 1-D array, got {_describe(a)}")
        _check_rows("success", a, t, "one per step, T from action")
        return a

    @staticmethod
    def _coerce_frames(frames: Any, t: int) -> dict[str, np.ndarray]:
        if not isinstance(frames, Mapping):
            raise ValueError(f"frames: expected a dict camera -> array, got {type(frames)}")
        out = {}
        for camera, value in frames.items():
            field = f"frames[{camera!r}]"
            _check_name(field, camera)
            a = np.asarray(value)
            # No silent coercion: float images in [0, 1] cast to uint8 would be all black.
            if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] != 3:
                raise ValueError(f"{field}: expected uint8 (T+1, H, W, 3), got {_describe(a)}")
            _check_rows(field, a, t + 1, "T + 1 observations, T from action")
            if a.shape[1] < 1 or a.shape[2] < 1:
                raise ValueError(f"{field}: empty image size, got {_describe(a)}")
            out[camera] = a
        return out

    @property
    def length(self) -> int:
        """Number of steps ``T`` (actions taken)."""
        return int(self.action.shape[0])

    @property
    def cameras(self) -> tuple[str, ...]:
        """Camera names, in the order the frames were given."""
        return tuple(self.frames)

    @property
    def is_success(self) -> bool:
        """Whether ``info["success"]`` was true after any step."""
        return bool(self.success.any())

    def segment(self, start: int, length: int) -> Episode:
        """Returns steps ``start .. start + length - 1`` as a new, validated Episode.

        The segment has ``length`` actions and ``length + 1`` observations (the observation
        before step ``start`` through the one after the last step). Arrays are views of this
        episode's arrays. Metadata gains ``segment = {"episode_id", "start", "length"}``
        pointing into the original (root) episode, also when segmenting a segment; the id is
        ``<root id>_seg<start>_<length>``, so the same slice always gets the same id.
        A segment that stops before the episode's end did not terminate: it is marked
        ``terminated=False, truncated=True``.

        Args:
            start: first step, ``0 <= start``.
            length: number of steps, ``1 <= length`` and ``start + length <= self.length``.

        Raises:
            ValueError: if the range is not inside the episode.
        """
        for name, v in (("start", start), ("length", length)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise ValueError(f"segment: {name} must be an int, got {v!r}")
        start, length = int(start), int(length)
        if start < 0 or length < 1 or start + length > self.length:
            raise ValueError(
                f"segment(start={start}, length={length}) is out of range for episode "
                f"{self.episode_id} of length {self.length}: need start >= 0, length >= 1 "
                f"and start + length <= {self.length}"
            )
        end = start + length
        at_end = end == self.length
        parent = self.metadata.get("segment")
        root_id = parent["episode_id"] if parent else self.episode_id
        root_start = (parent["start"] if parent else 0) + start
        obs = slice(start, end + 1)
        return Episode(
            state=self.state[obs],
            action=self.action[start:end],
            reward=self.reward[start:end],
            success=self.success[start:end],
            timestamp=self.timestamp[obs],
            metadata={
                **self.metadata,
                "segment": {"episode_id": root_id, "start": root_start, "length": length},
            },
            frames={cam: f[obs] for cam, f in self.frames.items()},
            progress=None if self.progress is None else self.progress[obs],
            terminated=self.terminated and at_end,
            truncated=self.truncated if at_end else True,
            episode_id=f"{root_id}_seg{root_start}_{length}",
        )

    def __repr__(self) -> str:
        cams = ", ".join(f"{c}: {f.shape[1]}x{f.shape[2]}" for c, f in self.frames.items())
        return (
            f"Episode(id={self.episode_id}, T={self.length}, state_dim={self.state.shape[1]}, "
            f"action_dim={self.action.shape[1]}, cameras={{{cams}}}, "
            f"task={self.metadata['task']!r}, source={self.metadata['source']!r}, "
            f"success={self.is_success}, terminated={self.terminated}, "
            f"truncated={self.truncated})"
        )
