"""Writing evaluator blobs: from head dicts (`export_blob`) or saved models (`export_models`).

Writes are crash-safe (`robopref.data.storage.atomic_path`: temp file, fsync, rename), so a
robot never loads half a blob. Only `export_models` imports torch, lazily: loading the saved
models needs it, evaluating the blob does not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from robopref.evaluator.blob import SUFFIX, encode_blob

__all__ = ["export_blob", "export_models"]


def export_blob(
    out_path: str | os.PathLike[str],
    preference: dict[str, Any] | None = None,
    prm: dict[str, Any] | None = None,
    gamma: float | None = None,
    scale: float = 1.0,
    obs_dim: int | None = None,
    policy: dict[str, Any] | None = None,
) -> Path:
    """Writes heads, shaping constants and a policy to a ``.rpe`` blob, atomically.

    Args:
        out_path: the file to write; must end in ``.rpe``. An existing file is replaced.
        preference: a `PreferenceRewardModel.numpy_head()` dict, or None.
        prm: a PRM ``numpy_head()`` dict (see `robopref.evaluator.heads`), or None.
        gamma: the learner's discount, in (0, 1]; None writes no shaping constants.
        scale: the shaping scale, finite.
        obs_dim: the state size of a ``"state_action"`` preference head whose dict has no
            ``obs_dim`` (``numpy_head()`` does not carry it; `export_models` passes it).
        policy: a policy head (`robopref.evaluator.heads.check_policy_head`), or None.

    Returns:
        The path written.

    Raises:
        ValueError: on a bad path suffix, a malformed head or constants, or nothing to write.
    """
    from robopref.data.storage import atomic_path  # NumPy only; imported here to stay light

    path = Path(out_path)
    if path.suffix != SUFFIX:
        raise ValueError(f"export_blob: {path} must end in {SUFFIX!r}")
    data = encode_blob(
        preference=preference, prm=prm, gamma=gamma, scale=scale, obs_dim=obs_dim, policy=policy
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _prm_head(path: str | os.PathLike[str], task: str | None = None) -> dict[str, Any]:
    try:
        from robopref.rewards.prm import ProcessRewardModel
    except ImportError as e:
        raise ImportError(
            f"export_models: cannot export the PRM {path}: robopref.rewards.prm is not "
            f"available ({e})"
        ) from e
    model = ProcessRewardModel.load(path)
    try:
        if task is not None:
            model.for_task(task)
        return model.numpy_head()
    except ValueError as e:
        raise ValueError(f"export_models: {path}: {e}") from e


def export_models(
    out_path: str | os.PathLike[str],
    preference_model: str | os.PathLike[str] | None = None,
    prm_model: str | os.PathLike[str] | None = None,
    gamma: float | None = 0.99,
    scale: float = 1.0,
    prm_task: str | None = None,
) -> Path:
    """Exports saved reward models (and shaping constants) into one ``.rpe`` blob.

    Args:
        out_path: the blob to write (``.rpe``).
        preference_model: a file written by `PreferenceRewardModel.save`, or None.
        prm_model: a file written by `ProcessRewardModel.save`, or None.
        gamma: the learner's discount for the shaping term (None: no shaping constants).
        scale: the shaping scale.
        prm_task: a multi-task PRM's task to export (its embedding is folded into the head,
            so the evaluator needs no task input); None: the task the model was saved with.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: a model file is missing.
        robopref.rewards.ModelFormatError: a model file is not readable (a ValueError).
        ValueError: nothing to export, the heads are malformed, or a multi-task PRM with no
            task chosen (or one it does not know).
    """
    preference = obs_dim = prm = None
    if preference_model is not None:
        from robopref.rewards.preference import PreferenceRewardModel

        model = PreferenceRewardModel.load(preference_model)
        preference, obs_dim = model.numpy_head(), model.obs_dim
    if prm_model is not None:
        prm = _prm_head(prm_model, prm_task)
    return export_blob(out_path, preference, prm, gamma=gamma, scale=scale, obs_dim=obs_dim)
