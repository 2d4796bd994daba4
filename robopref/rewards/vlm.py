"""A vision-language (CLIP) potential: how much the camera views look like a goal description.

Rocamonde et al., "Vision-Language Models are Zero-Shot Reward Models for Reinforcement
Learning" (VLM-RM, ICLR 2024; code: github.com/AlignmentResearch/vlmrm,
``src/vlmrm/reward_model.py``), score a frame by its CLIP embedding ``x`` (normalised) against
the goal ``g`` (the mean of the normalised embeddings of the goal prompts) and a baseline
``b`` (the same for prompts that describe the scene without the goal): with the direction
``d = g - b`` and the partial projection

    P = alpha * d d^T / ||d||^2 + (1 - alpha) * I,

the reward is

    R(x) = 1 - ||(x - g) P||^2 / 2.

``alpha`` ("baseline regularisation strength") in [0, 1] keeps the part of the embedding
space that separates goal from baseline: ``alpha = 0`` is the plain CLIP reward
``1 - ||x - g||^2 / 2`` (the cosine similarity ``x . g`` when ``g`` is one unit prompt
embedding), ``alpha = 1`` keeps only the component of ``x - g`` along ``d``. ``R`` is at most
1, reached at ``x = g``. The reward is computed in float64 from the float32 embeddings.

Here it is a state-only model, so it is a *potential* ``Phi(obs)`` that enters training
through shaping only (DESIGN.md contract 4, `robopref.rewards.shaping`). Each configured
camera view present in the observation is scored, and ``Phi`` is their weighted mean;
missing views are skipped and reported (`VLMScore.missing`, `VLMReward.last_missing_views`).

* `projected_reward` / `projection_matrix`: the maths above, in NumPy (the oracle the torch
  path is tested against).
* `VLMRewardConfig`: the typed, validated configuration.
* `VLMReward`: ``potential(obs)`` (also its ``__call__``, so the object itself is the
  ``potential`` of `PotentialShapingWrapper`), ``score``, ``per_view``, ``potential_batch`` /
  ``score_batch`` for relabelling stored frames, ``embed_images``.

Checkpoints are local CLIP directories loaded offline by `robopref.rewards.vlm_clip`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import torch

from robopref.rewards.frames import check_frames
from robopref.rewards.model_file import NonFiniteRewardError
from robopref.rewards.vlm_clip import (
    ClipCheckpoint,
    ImageSettings,
    load_clip_checkpoint,
    preprocess,
)

__all__ = [
    "ClipCheckpoint",
    "ImageSettings",
    "VLMBatchScore",
    "VLMReward",
    "VLMRewardConfig",
    "VLMScore",
    "load_clip_checkpoint",
    "projected_reward",
    "projection_matrix",
]

logger = logging.getLogger(__name__)

# Below this ||g - b||, goal and baseline prompts embed to (numerically) the same point and the
# projection direction is noise.
_MIN_DIRECTION_NORM = 1e-6


def projection_matrix(goal: Any, baseline: Any, alpha: float) -> np.ndarray:
    """VLM-RM's ``P = alpha * d d^T / ||d||^2 + (1 - alpha) I`` with ``d = goal - baseline``.

    Args:
        goal: ``(D,)`` goal embedding ``g``.
        baseline: ``(D,)`` baseline embedding ``b``; may be None when ``alpha == 0``.
        alpha: projection strength in [0, 1].

    Returns:
        float64 ``(D, D)``.

    Raises:
        ValueError: on bad shapes, ``alpha`` outside [0, 1], or ``g == b`` with ``alpha > 0``.
    """
    alpha = _check_alpha(alpha)
    g = np.asarray(goal, dtype=np.float64)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"goal: expected a (D,) vector, got shape {g.shape}")
    eye = np.eye(g.size)
    if alpha == 0:
        return eye
    if baseline is None:
        raise ValueError(f"baseline: needed when alpha > 0 (alpha={alpha})")
    d = g - np.asarray(baseline, dtype=np.float64)
    if d.shape != g.shape:
        raise ValueError(f"baseline: expected shape {g.shape} like goal, got {d.shape}")
    norm2 = float(d @ d)
    if not math.sqrt(norm2) > _MIN_DIRECTION_NORM:
        raise ValueError(
            f"goal and baseline embeddings coincide (||g - b|| = {math.sqrt(norm2):.3g}): "
            "the projection direction is undefined; use prompts that differ, or alpha=0"
        )
    return alpha * np.outer(d, d) / norm2 + (1 - alpha) * eye


def projected_reward(x: Any, goal: Any, baseline: Any, alpha: float) -> np.ndarray:
    """VLM-RM reward ``1 - ||(x/|x| - g) P||^2 / 2`` of image embeddings ``x``.

    Args:
        x: ``(..., D)`` image embeddings (normalised here, as VLM-RM does).
        goal: ``(D,)`` goal ``g``: the mean of the normalised goal-prompt embeddings.
        baseline: ``(D,)`` baseline ``b``, likewise; may be None when ``alpha == 0``.
        alpha: projection strength in [0, 1].

    Returns:
        float64 ``(...)`` rewards.
    """
    p = projection_matrix(goal, baseline, alpha)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != p.shape[0]:
        raise ValueError(f"x: expected (..., {p.shape[0]}) embeddings, got shape {x.shape}")
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    v = (x - np.asarray(goal, dtype=np.float64)) @ p
    return 1.0 - 0.5 * np.sum(v * v, axis=-1)


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def _str_tuple(name: str, value: Any, allow_empty: bool) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    items = tuple(value)
    if not all(isinstance(s, str) and s.strip() for s in items):
        raise ValueError(f"{name} must hold non-empty strings, got {value!r}")
    if not items and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return items


@dataclasses.dataclass(frozen=True)
class VLMRewardConfig:
    """Configuration of `VLMReward` (checked at construction)."""

    checkpoint: str
    """Local CLIP checkpoint directory (see `robopref.rewards.vlm_clip`); never downloaded."""
    goal_prompts: tuple[str, ...]
    """Descriptions of the goal state; their normalised embeddings are averaged into ``g``."""
    baseline_prompts: tuple[str, ...] = ()
    """Descriptions of the scene without the goal (``b``); required when ``alpha > 0``."""
    alpha: float = 0.5
    """VLM-RM's projection strength in [0, 1]; 0: plain CLIP reward, 1: only the goal-vs-
    baseline direction counts (the paper sweeps the range per task)."""
    views: tuple[str, ...] = ("front", "side", "wrist")
    """Observation keys of the camera images to score."""
    view_weights: tuple[float, ...] | None = None
    """Positive weight per view (same order as ``views``) in the mean; None: equal."""
    batch_size: int = 64
    """Images per CLIP forward pass (bounds memory when relabelling)."""
    device: str = "cpu"
    """Torch device for CLIP, e.g. "cpu" or "cuda:0"."""
    name: str = "vlm_reward"
    """Names the model in errors and logs."""

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint, str | os.PathLike) or not str(self.checkpoint):
            raise ValueError(f"checkpoint must be a directory path, got {self.checkpoint!r}")
        object.__setattr__(self, "checkpoint", os.fspath(self.checkpoint))
        goal = _str_tuple("goal_prompts", self.goal_prompts, allow_empty=False)
        base = _str_tuple("baseline_prompts", self.baseline_prompts, allow_empty=True)
        object.__setattr__(self, "goal_prompts", goal)
        object.__setattr__(self, "baseline_prompts", base)
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))
        if self.alpha > 0 and not base:
            raise ValueError(f"baseline_prompts: needed when alpha > 0 (alpha={self.alpha})")
        views = _str_tuple("views", self.views, allow_empty=False)
        if len(set(views)) != len(views):
            raise ValueError(f"views must be distinct, got {views!r}")
        object.__setattr__(self, "views", views)
        if self.view_weights is not None:
            w = self.view_weights
            ok = isinstance(w, Sequence) and len(w) == len(views)
            if not ok or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < math.inf
                for v in w
            ):
                raise ValueError(
                    f"view_weights must be {len(views)} finite numbers > 0 (one per view in "
                    f"{list(views)}), got {w!r}"
                )
            object.__setattr__(self, "view_weights", tuple(float(v) for v in w))
        b = self.batch_size
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {b!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"device: not a torch device: {self.device!r}") from e
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")

    @property
    def weights(self) -> dict[str, float]:
        """Weight of each view (1.0 each by default)."""
        w = self.view_weights if self.view_weights is not None else (1.0,) * len(self.views)
        return dict(zip(self.views, w))


class VLMScore(NamedTuple):
    """One observation's score: the potential, each scored view's reward, views missing."""

    potential: float
    per_view: dict[str, float]
    missing: tuple[str, ...]


class VLMBatchScore(NamedTuple):
    """``N`` observations' scores: ``(N,)`` potentials, ``(N,)`` per view, views missing."""

    potential: np.ndarray
    per_view: dict[str, np.ndarray]
    missing: tuple[str, ...]


class VLMReward:
    """CLIP potential ``Phi(obs)``: VLM-RM's projected reward, averaged over camera views.

    Build it with `from_config` or `load`; the constructor takes an already loaded
    `ClipCheckpoint`, so several rewards (e.g. one per task) can share one CLIP model. The
    goal and baseline text embeddings are computed once, here.

    Args:
        clip: the loaded checkpoint (its directory must be ``config.checkpoint``).
        config: prompts, alpha, views and the rest.

    Raises:
        ValueError: if a prompt is longer than the text tower takes, the goal and baseline
            prompts embed to the same point (with ``alpha > 0``), or the device is missing.
        NonFiniteRewardError: if a prompt embedding is NaN or inf (corrupt weights).
    """

    def __init__(self, clip: ClipCheckpoint, config: VLMRewardConfig) -> None:
        if not isinstance(config, VLMRewardConfig):
            raise ValueError(f"config must be a VLMRewardConfig, got {type(config).__name__}")
        if os.path.realpath(clip.path) != os.path.realpath(config.checkpoint):
            raise ValueError(
                f"checkpoint: config names {config.checkpoint!r} but the loaded CLIP model "
                f"comes from {str(clip.path)!r}"
            )
        self.config, self.name = config, config.name
        self.image_settings: ImageSettings = clip.image
        self._device = torch.device(config.device)
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device: {config.device!r} requested but CUDA is not available")
        self._clip = clip
        # transformers wraps PreTrainedModel.to (functools.wraps): mypy reads it unbound.
        self._model = clip.model.to(self._device).eval()  # type: ignore[arg-type]
        self._weights = config.weights
        self.goal_embedding = self._embed_prompts(config.goal_prompts, "goal_prompts")
        self.baseline_embedding = (
            self._embed_prompts(config.baseline_prompts, "baseline_prompts")
            if config.baseline_prompts
            else None
        )
        p = projection_matrix(self.goal_embedding, self.baseline_embedding, config.alpha)
        self._p = torch.from_numpy(p).to(self._device)
        self._g = torch.from_numpy(self.goal_embedding).to(self._device)
        #: Configured views absent from the last scored observation(s); () when all present.
        self.last_missing_views: tuple[str, ...] = ()
        self._warned: set[tuple[str, ...]] = set()

    @classmethod
    def from_config(cls, config: VLMRewardConfig) -> VLMReward:
        """Loads ``config.checkpoint`` (offline, see `load_clip_checkpoint`) and builds it."""
        return cls(load_clip_checkpoint(config.checkpoint), config)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike[str], **kwargs: Any) -> VLMReward:
        """``from_config(VLMRewardConfig(checkpoint, **kwargs))``."""
        # The config takes a PathLike too (its __post_init__ stores os.fspath of it).
        return cls.from_config(VLMRewardConfig(checkpoint=cast(str, checkpoint), **kwargs))

    # ------------------------------------------------------------------ embeddings
    @torch.inference_mode()
    def _embed_prompts(self, prompts: tuple[str, ...], what: str) -> np.ndarray:
        tok, limit = self._clip.tokenizer, self._clip.max_text_tokens
        for p, ids in zip(prompts, tok(list(prompts))["input_ids"]):
            # Truncation would cut the prompt (and its end token) silently.
            if len(ids) > limit:
                raise ValueError(
                    f"{what}: {p!r} is {len(ids)} tokens; the text tower of {self.name!r} "
                    f"takes at most {limit}"
                )
        enc = tok(list(prompts), padding=True, return_tensors="pt").to(self._device)
        out = self._model.text_model(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
        )
        e = self._model.text_projection(out.pooler_output).to(torch.float64)
        e = e / e.norm(dim=-1, keepdim=True)
        mean = e.mean(0).cpu().numpy()  # VLM-RM averages the normalised embeddings, as is
        if not np.isfinite(mean).all():
            raise NonFiniteRewardError(
                f"VLM reward {self.name!r}: the {what} embedding is not finite; the CLIP "
                f"weights in {self.config.checkpoint!r} are corrupt"
            )
        return mean

    @torch.inference_mode()
    def _embed(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Validated uint8 frame stacks -> float64 ``(sum N, D)`` normalised embeddings.

        The stacks (views, which may differ in size) run through the vision tower together,
        ``batch_size`` images per pass: one pass for the views of one observation.
        """
        bounds = np.cumsum([0] + [len(f) for f in frames])
        total, b = int(bounds[-1]), self.config.batch_size
        out = torch.empty(total, self._g.numel(), dtype=torch.float64, device=self._device)
        for s in range(0, total, b):
            e = min(s + b, total)
            px = torch.cat(
                [
                    preprocess(
                        f[max(s, lo) - lo : min(e, hi) - lo], self.image_settings, self._device
                    )
                    for f, lo, hi in zip(frames, bounds[:-1], bounds[1:])
                    if lo < e and hi > s
                ]
            )
            pooled = self._model.vision_model(pixel_values=px).pooler_output
            out[s:e] = self._model.visual_projection(pooled).to(torch.float64)
        return out / out.norm(dim=-1, keepdim=True)

    def embed_images(self, frames: Any) -> np.ndarray:
        """Normalised CLIP embeddings of uint8 ``(N, H, W, 3)`` frames: float64 ``(N, D)``."""
        return self._embed([check_frames("frames", frames)]).cpu().numpy()

    # ------------------------------------------------------------------ scoring
    def _views(self, keys: Any) -> tuple[list[str], tuple[str, ...]]:
        """The configured views among ``keys`` (in config order), and those missing."""
        present = [v for v in self.config.views if v in keys]
        if not present:
            raise ValueError(
                f"VLM reward {self.name!r}: none of the configured views {list(self.config.views)} "
                f"is in the observation (keys: {sorted(map(str, keys))})"
            )
        missing = tuple(v for v in self.config.views if v not in keys)
        if missing and missing not in self._warned:
            self._warned.add(missing)
            logger.warning(
                "VLM reward %s: views %s missing; scoring %s", self.name, missing, present
            )
        self.last_missing_views = missing
        return present, missing

    @torch.inference_mode()
    def score_batch(self, frames_by_view: Mapping[str, Any]) -> VLMBatchScore:
        """Scores ``N`` observations given as stacked frames per view (relabelling).

        Args:
            frames_by_view: uint8 ``(N, H, W, 3)`` frames keyed by view; keys that are not
                configured views are ignored, so an episode's frame dict can be passed as is.
                Views may differ in frame size, not in ``N``.

        Returns:
            The potentials, the per-view rewards and the configured views that were missing
            (also left in `last_missing_views`).

        Raises:
            ValueError: if no configured view is present, or frames are malformed.
            NonFiniteRewardError: if a reward is NaN or inf.
        """
        if not isinstance(frames_by_view, Mapping):
            raise ValueError(f"expected a mapping of view -> frames, got {type(frames_by_view)}")
        present, missing = self._views(frames_by_view)
        frames = [check_frames(f"frames[{v!r}]", frames_by_view[v]) for v in present]
        counts = {v: len(f) for v, f in zip(present, frames)}
        if len(set(counts.values())) > 1:
            raise ValueError(f"views hold different numbers of frames: {counts}")
        n = len(frames[0])
        v = (self._embed(frames) - self._g) @ self._p  # VLM-RM: 1 - ||(x - g) P||^2 / 2
        r = (1.0 - 0.5 * (v * v).sum(-1)).cpu().numpy().reshape(len(present), n)
        bad = np.argwhere(~np.isfinite(r))
        if bad.size:
            k, i = (int(j) for j in bad[0])
            raise NonFiniteRewardError(
                f"VLM reward {self.name!r}: view {present[k]!r} frame {i} gave a non-finite "
                f"reward ({r[k, i]}); the CLIP weights in {self.config.checkpoint!r} are corrupt"
            )
        w = np.array([self._weights[v] for v in present])
        potential = (w / w.sum()) @ r
        return VLMBatchScore(potential, dict(zip(present, r)), missing)

    def potential_batch(self, frames_by_view: Mapping[str, Any]) -> np.ndarray:
        """``Phi`` of ``N`` observations, float64 ``(N,)`` (see `score_batch`)."""
        return self.score_batch(frames_by_view).potential

    def score(self, obs: Mapping[str, Any]) -> VLMScore:
        """Scores one Dict observation (one uint8 ``(H, W, 3)`` image per camera key)."""
        if not isinstance(obs, Mapping):
            raise ValueError(f"expected a Dict observation (a mapping), got {type(obs)}")
        frames = {}
        for v in self._views(obs)[0]:
            a = np.asarray(obs[v])
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[-1] != 3:
                raise ValueError(
                    f"obs[{v!r}]: expected a uint8 (H, W, 3) image, got {a.dtype} {a.shape}"
                )
            frames[v] = a[None]
        s = self.score_batch(frames)
        per_view = {v: float(r[0]) for v, r in s.per_view.items()}
        return VLMScore(float(s.potential[0]), per_view, s.missing)

    def potential(self, obs: Mapping[str, Any]) -> float:
        """``Phi(obs)``: the weighted mean reward of the configured views present."""
        return self.score(obs).potential

    __call__ = potential

    def per_view(self, obs: Mapping[str, Any]) -> dict[str, float]:
        """The reward of each configured view present in ``obs``."""
        return self.score(obs).per_view

    def __repr__(self) -> str:
        c = self.config
        return (
            f"VLMReward(name={self.name!r}, checkpoint={c.checkpoint!r}, alpha={c.alpha}, "
            f"views={c.views}, goal_prompts={c.goal_prompts})"
        )
