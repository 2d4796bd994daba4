"""The input check every camera reward model applies to its frames.

One function for the PRM (`robopref.rewards.prm`) and the VLM reward
(`robopref.rewards.vlm`), so both refuse the same inputs with the same words (issue 15).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_frames"]


def check_frames(name: str, frames: Any) -> np.ndarray:
    """``frames`` as a uint8 ``(N, H, W, 3)`` array, or a ``ValueError`` naming ``name``.

    Args:
        name: what the frames are, for the error (``"frames['front']"``, ``"view 'side'"``).
        frames: anything `numpy.asarray` takes.

    Raises:
        ValueError: another dtype than uint8, or not a batch of RGB images with ``H, W >= 1``.
    """
    a = np.asarray(frames)
    if a.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 RGB frames, got dtype {a.dtype}")
    if a.ndim != 4 or a.shape[-1] != 3 or a.shape[1] < 1 or a.shape[2] < 1:
        raise ValueError(f"{name}: expected a (N, H, W, 3) batch of RGB frames, got {a.shape}")
    return a
