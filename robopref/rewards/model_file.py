"""Reward-model files and the errors every reward model shares.

Each model (preference ensemble, PRM, CLIP checkpoint reader) saves a dict payload with a
``format`` name and ``version`` and reads it back checked; they raise the same two errors.
They live here rather than in one model's module so that no model imports another for them.
torch is imported inside the two file functions only: the errors are importable without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["ModelFormatError", "NonFiniteRewardError", "read_model_file", "write_model_file"]


def write_model_file(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Writes a model payload with ``torch.save`` atomically (temp file, fsync, rename).

    Shared by every reward model; `read_model_file` reads it back.
    """
    import torch

    from robopref.data.storage import atomic_path  # shared crash-safe write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_model_file(path: Path, format_name: str, version: int | tuple[int, ...]) -> dict[str, Any]:
    """The payload of a model file written with ``torch.save``, checked for format and version.

    Loads with ``weights_only=True`` (no pickled code runs). Shared by every reward model.
    ``version`` is the one version understood, or a tuple of them (a reader that still loads
    older files: the caller then looks at ``payload["version"]``).

    Raises:
        FileNotFoundError: if there is no such file.
        ModelFormatError: naming the file, if it is corrupt or truncated, of another format,
            or of another version of ``format_name``.
    """
    import torch

    with open(path, "rb") as f:
        try:
            obj = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # any parse failure of a damaged file: re-raised, typed
            raise ModelFormatError(f"{path}: not a readable model file ({e})") from e
    if not isinstance(obj, dict) or obj.get("format") != format_name:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ModelFormatError(f"{path}: not a {format_name} file (format {found!r})")
    versions = version if isinstance(version, tuple) else (version,)
    if obj.get("version") not in versions:
        understood = (
            f"version {versions[0]} only"
            if len(versions) == 1
            else f"versions {', '.join(map(str, versions))}"
        )
        raise ModelFormatError(
            f"{path}: {format_name} version {obj.get('version')!r}; this reader "
            f"understands {understood}"
        )
    return obj


class ModelFormatError(ValueError):
    """A saved reward-model file is corrupt, truncated, not a model, or another version."""


class NonFiniteRewardError(ValueError):
    """A reward model produced NaN or inf; using it would silently poison the learner."""
