"""Atomic, verified checkpoints of a run (the layout is in `robopref.runs`).

A checkpoint is written into a temp directory beside the others, every file fsynced, a
``MANIFEST.json`` with each file's size and SHA-256 written last, the directory renamed into
place, and only then ``checkpoints/latest`` replaced (atomically) to name it. A SIGKILL at
any moment therefore leaves either the previous ``latest`` or the new one, each complete.
Loading checks the manifest first, so a corrupt checkpoint is a clear `CheckpointError`,
and `resumable_checkpoint` falls back to the previous one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

from robopref.data.storage import _fsync_dir, atomic_path
from robopref.runs import RunPaths

MANIFEST = "MANIFEST.json"
FORMAT = "robopref.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or corrupt; the message names it and the file."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
    for d in sorted({p.parent for p in root.rglob("*")} | {root}):
        _fsync_dir(d)


def write_checkpoint(run: RunPaths, env_steps: int, fill, keep: int) -> Path:
    """Writes checkpoint ``ckpt-<env_steps>``: ``fill(tmp_dir)`` writes the files.

    Returns:
        The final checkpoint directory.
    """
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{env_steps:010d}"
    tmp = run.checkpoints / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        fill(tmp)
        files = {
            str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        manifest = {"format": FORMAT, "version": VERSION, "env_steps": env_steps, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _fsync_tree(tmp)
        final = run.checkpoints / name
        if final.exists():  # a resumed run passing the same step again: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(run.checkpoints)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with atomic_path(run.checkpoints / "latest") as p:
        p.write_text(name + "\n")
    for old in run.checkpoint_dirs()[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a complete, intact checkpoint.

    Raises:
        CheckpointError: naming the checkpoint and what is wrong with it.
    """
    ckpt = Path(path)
    try:
        manifest = json.loads((ckpt / MANIFEST).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {ckpt} is incomplete: it has no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {ckpt}: unreadable {MANIFEST}: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {ckpt}: {MANIFEST} is not a robopref checkpoint's")
    if manifest.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint {ckpt} has version {manifest.get('version')}; this robopref reads "
            f"up to {VERSION}"
        )
    for name, spec in manifest.get("files", {}).items():
        p = ckpt / name
        if not p.is_file():
            raise CheckpointError(f"checkpoint {ckpt} is corrupt: {name} is missing")
        if p.stat().st_size != spec["size"] or _sha256(p) != spec["sha256"]:
            raise CheckpointError(f"checkpoint {ckpt} is corrupt: {name} fails its checksum")
    return manifest


def resumable_checkpoint(run: RunPaths) -> Path | None:
    """The newest intact checkpoint; corrupt newer ones are reported as warnings.

    Raises:
        CheckpointError: when checkpoints exist and every one of them is corrupt.
    """
    dirs = run.checkpoint_dirs()
    latest = run.latest_checkpoint()
    if latest is not None and latest in dirs:  # try what latest names first
        dirs.remove(latest)
        dirs.append(latest)
    errors = []
    for ckpt in reversed(dirs):
        try:
            verify_checkpoint(ckpt)
        except CheckpointError as e:
            errors.append(str(e))
            warnings.warn(f"{e}; trying the previous checkpoint", stacklevel=2)
            continue
        return ckpt
    if errors:
        raise CheckpointError("no intact checkpoint to resume from: " + "; ".join(errors))
    return None
