"""Episode files on disk, and `EpisodeStore`, a directory of them.

On-disk format ("robopref.episode", version 1) -- this is a contract:

* One file per episode, named ``<episode_id>.episode.npz``.
* The file is a ZIP archive with DEFLATE-compressed members, readable by ``np.load``
  (``np.load(path)["state"]``); each array member is a ``.npy`` file written with
  ``allow_pickle=False``:

  ===================== ====================== ===========================================
  member                dtype, shape           meaning (see `robopref.data.episode`)
  ===================== ====================== ===========================================
  ``state.npy``         float32 (T+1, S)       observation "state" vectors
  ``action.npy``        float32 (T, A)         actions
  ``reward.npy``        float32 (T,)           task reward, NaN where unknown
  ``success.npy``       bool (T,)              ``info["success"]`` after each step
  ``timestamp.npy``     float64 (T+1,)         seconds
  ``progress.npy``      float32 (T+1,)         only when the episode has progress (sim)
  ``frames/<cam>.npy``  uint8 (T+1, H, W, 3)   one per camera
  ``__meta__.json``     UTF-8 JSON             see below
  ===================== ====================== ===========================================

* ``__meta__.json`` is an object with ``format`` = ``"robopref.episode"``, ``version`` = 1,
  ``episode_id``, ``length`` (T), ``terminated``, ``truncated``, ``cameras`` (list, in
  order), ``metadata`` (the episode's metadata dict) and ``arrays``: for every array member
  (name without ``.npy``) its ``dtype`` (NumPy name), ``shape`` and ``sha256``, the hex
  SHA-256 of the array's raw bytes in C order. A reader checks all of them, so corruption
  is detected even where the ZIP CRC-32 is not checked.
* A reader refuses a ``version`` greater than the one it knows. Changes that old readers
  could misread bump the version.
* Writes are crash-safe: the file is written to a hidden temp file in the same directory
  (``.<name>.tmp-<random>``), flushed and fsynced, renamed over the final name with
  ``os.replace`` and the directory is fsynced. A file under the final name is therefore
  always complete; a crash leaves at most a temp file, which readers ignore
  (`EpisodeStore.clean_temp_files` removes old ones).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robopref.data.episode import _NAME_RE, Episode

FORMAT_NAME = "robopref.episode"
FORMAT_VERSION = 1
SUFFIX = ".episode.npz"
META_MEMBER = "__meta__.json"

# Level 1 deflate is several times faster than the default 6 and, on rendered frames, only a
# little larger; episodes are written inside rollout loops, so write speed matters more.
_COMPRESSLEVEL = 1
_TEMP_MARK = ".tmp-"


class EpisodeFormatError(ValueError):
    """An episode file is corrupt, truncated, not an episode, or from a newer format."""


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; without it a power loss can undo the os.replace.
    if not hasattr(os, "O_DIRECTORY"):  # Windows cannot open directories; nothing to do.
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temp path next to ``final``; on success moves it there durably.

    Whatever the body writes to the temp path (this process or a child such as ffmpeg) is
    fsynced, renamed over ``final`` with ``os.replace`` and the directory fsynced. On any
    error, the temp file is removed and the error re-raised; ``final`` is left untouched.
    """
    final = Path(final)
    tmp = final.with_name(f".{final.name}{_TEMP_MARK}{uuid.uuid4().hex[:12]}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data).hexdigest()


def _arrays(ep: Episode) -> dict[str, np.ndarray]:
    arrays = {
        "state": ep.state,
        "action": ep.action,
        "reward": ep.reward,
        "success": ep.success,
        "timestamp": ep.timestamp,
    }
    if ep.progress is not None:
        arrays["progress"] = ep.progress
    for camera, frames in ep.frames.items():
        arrays[f"frames/{camera}"] = frames
    return arrays


def _write_member(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    # force_zip64: frame members can exceed 2 GiB on long real-robot recordings.
    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def save_episode(ep: Episode, directory_or_path: str | os.PathLike[str]) -> Path:
    """Writes ``ep`` crash-safely in the format described in this module's docstring.

    Args:
        ep: the episode.
        directory_or_path: an existing directory (the file is named
            ``<episode_id>.episode.npz`` inside it) or a file path ending in
            ``.episode.npz``. An existing file under that name is replaced atomically.

    Returns:
        The path of the written file.

    Raises:
        ValueError: if a file path does not end in ``.episode.npz``.
    """
    target = Path(directory_or_path)
    if target.is_dir():
        target = target / f"{ep.episode_id}{SUFFIX}"
    elif not target.name.endswith(SUFFIX):
        raise ValueError(
            f"save_episode: {target} is neither an existing directory nor a path ending "
            f"in {SUFFIX!r}"
        )
    arrays = _arrays(ep)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "episode_id": ep.episode_id,
        "length": ep.length,
        "terminated": ep.terminated,
        "truncated": ep.truncated,
        "cameras": list(ep.cameras),
        "metadata": ep.metadata,
        "arrays": {
            name: {"dtype": a.dtype.name, "shape": list(a.shape), "sha256": _sha256(a)}
            for name, a in arrays.items()
        },
    }
    meta_bytes = json.dumps(meta, indent=1, allow_nan=False).encode("utf-8")
    with atomic_path(target) as tmp, open(tmp, "xb") as f:
        with zipfile.ZipFile(
            f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESSLEVEL
        ) as zf:
            # Not writestr: it stamps the member with the time of writing, while open()
            # stamps 1980-01-01 as it does the arrays, so an episode is the same bytes
            # whenever and wherever it is written (parallel rollouts match serial ones).
            with zf.open(META_MEMBER, "w") as member:
                member.write(meta_bytes)
            for name, array in arrays.items():
                _write_member(zf, name, array)
        f.flush()
    return target


def _read_meta(zf: zipfile.ZipFile) -> dict[str, Any]:
    if META_MEMBER not in zf.namelist():
        raise EpisodeFormatError(f"no {META_MEMBER} member: not a {FORMAT_NAME} file")
    meta = json.loads(zf.read(META_MEMBER).decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise EpisodeFormatError(f"format is {found!r}, expected {FORMAT_NAME!r}")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise EpisodeFormatError(f"unsupported format version {version!r}")
    if version > FORMAT_VERSION:
        raise EpisodeFormatError(
            f"format version {version} is newer than this reader understands "
            f"(<= {FORMAT_VERSION}); upgrade robopref to read it"
        )
    return meta


def _read_array(zf: zipfile.ZipFile, name: str, spec: dict[str, Any]) -> np.ndarray:
    with zf.open(f"{name}.npy") as member:
        a = np.lib.format.read_array(member, allow_pickle=False)
    if a.dtype.name != spec["dtype"] or list(a.shape) != spec["shape"]:
        raise EpisodeFormatError(
            f"array {name!r} is {a.dtype.name} {list(a.shape)}, the header says "
            f"{spec['dtype']} {spec['shape']}"
        )
    if _sha256(a) != spec["sha256"]:
        raise EpisodeFormatError(f"array {name!r} fails its SHA-256 check (corrupt data)")
    return a


def _decode(f: Any) -> Episode:
    with zipfile.ZipFile(f) as zf:
        meta = _read_meta(zf)
        specs = meta["arrays"]
        expected = {f"{name}.npy" for name in specs} | {META_MEMBER}
        if set(zf.namelist()) != expected:
            raise EpisodeFormatError(
                f"members {sorted(zf.namelist())} do not match the header's {sorted(expected)}"
            )
        arrays = {name: _read_array(zf, name, spec) for name, spec in specs.items()}
    return Episode(
        state=arrays["state"],
        action=arrays["action"],
        reward=arrays["reward"],
        success=arrays["success"],
        timestamp=arrays["timestamp"],
        metadata=meta["metadata"],
        frames={cam: arrays[f"frames/{cam}"] for cam in meta["cameras"]},
        progress=arrays.get("progress"),
        terminated=meta["terminated"],
        truncated=meta["truncated"],
        episode_id=meta["episode_id"],
    )


def load_episode(path: str | os.PathLike[str]) -> Episode:
    """Reads and verifies an episode file written by `save_episode`.

    Raises:
        FileNotFoundError: if there is no such file (other OS errors also pass through).
        EpisodeFormatError: naming the file and the problem, if it is corrupt, truncated,
            not an episode file, or written in a newer format version.
    """
    path = Path(path)
    # Opening outside the try keeps real I/O errors (missing file, permissions) as they are;
    # everything that goes wrong while parsing the bytes is a format error.
    with open(path, "rb") as f:
        try:
            return _decode(f)
        except EpisodeFormatError as e:
            raise EpisodeFormatError(f"{path}: {e}") from e
        except Exception as e:  # zipfile, zlib, json, npy header and Episode validation
            raise EpisodeFormatError(
                f"{path}: not a readable {FORMAT_NAME} v{FORMAT_VERSION} file "
                f"(corrupt or truncated?): {type(e).__name__}: {e}"
            ) from e


class EpisodeStore:
    """A directory of episode files, one per episode, keyed by episode id.

    Listing is in sorted id order. Temp files from interrupted writes are never listed.
    Several processes may save into the same store; saving an id that exists replaces it.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, episode_id: str) -> Path:
        """The file an episode with this id is (or would be) stored in."""
        return self.root / f"{episode_id}{SUFFIX}"

    def save(self, ep: Episode) -> Path:
        """Saves ``ep`` crash-safely; returns its path."""
        return save_episode(ep, self.root)

    def load(self, episode_id: str) -> Episode:
        """Loads the episode with this id.

        Raises:
            KeyError: if no such episode is stored.
            EpisodeFormatError: if its file is corrupt.
        """
        if episode_id not in self:
            raise KeyError(
                f"no episode {episode_id!r} in {self.root} ({len(self)} episodes stored)"
            )
        path = self.path(episode_id)
        ep = load_episode(path)
        if ep.episode_id != episode_id:
            raise EpisodeFormatError(f"{path}: holds episode {ep.episode_id!r} (renamed?)")
        return ep

    def ids(self) -> list[str]:
        """Stored episode ids, sorted."""
        return [p.name[: -len(SUFFIX)] for p in self.paths()]

    def paths(self) -> list[Path]:
        """Stored episode files, sorted by id."""
        return sorted(
            (p for p in self.root.glob(f"*{SUFFIX}") if not p.name.startswith(".")),
            key=lambda p: p.name,
        )

    def clean_temp_files(self, min_age_s: float = 3600.0) -> int:
        """Removes temp files of interrupted writes older than ``min_age_s``; returns how many.

        The age threshold keeps this safe while other processes are still writing.
        """
        now = time.time()
        removed = 0
        for p in self.root.glob(f".*{_TEMP_MARK}*"):
            with contextlib.suppress(FileNotFoundError):  # a writer finished meanwhile
                if now - p.stat().st_mtime >= min_age_s:
                    p.unlink()
                    removed += 1
        return removed

    def __contains__(self, episode_id: object) -> bool:
        # The name check keeps ids like "../x" from reaching outside the store.
        return (
            isinstance(episode_id, str)
            and _NAME_RE.fullmatch(episode_id) is not None
            and self.path(episode_id).is_file()
        )

    def __len__(self) -> int:
        return len(self.paths())

    def __iter__(self) -> Iterator[Episode]:
        """Yields every stored episode, loaded, in sorted id order."""
        for episode_id in self.ids():
            yield self.load(episode_id)

    def __repr__(self) -> str:
        return f"EpisodeStore({str(self.root)!r}, {len(self)} episodes)"
