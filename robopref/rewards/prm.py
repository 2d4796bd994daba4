"""A multi-view process reward model (PRM): task progress from several cameras at once.

After Robo-Dopamine's general reward model (Tan et al. 2025, "Robo-Dopamine: General Process
Reward Modeling for High-Precision Robotic Manipulation"): progress is predicted as a
distribution over ``K`` bins ("step-aware" discretized progress) whose expectation is the
potential ``Phi(obs)`` of DESIGN.md contract 4, and a second, relative "hop" head predicts
the progress change between two frames, normalized by the progress that was left (when it
goes up) or the progress that was made (when it goes down), so that small steps near the
goal and regressions near the start are as visible to the loss as the large ones.

The network, per view ``v`` of ``V`` cameras:

    f_v = encoder(image_v)                         shared CNN, one per-view feature (D,)
    h_v = f_v + view_embed_v                        which camera it came from
    a   = softmax over the views present of <h_v, q> / sqrt(D)     attention pooling
    z   = LayerNorm(sum_v a_v h_v)                  the fused feature
    p   = softmax(MLP(z))                           (K,) progress bins
    Phi = sum_k p_k c_k                             c_k = k / (K - 1)

Views absent at inference (a camera unplugged, a frame dropped) are simply left out of the
softmax, and training drops views at random (``view_dropout``), so the fused feature stays
calibrated with any non-empty subset of cameras. Everything after the encoder is the
"head" that `numpy_head` hands to the C evaluator (`robopref.evaluator`), whose maths it
must match exactly.

Two more heads read the fused feature ``z``, after Robometer's three objectives (progress,
success, pairwise preference; issue 14):

    success(z)    = sigmoid(MLP_s(z))    P(the task is solved in this observation), trained
                                         with binary cross-entropy on per-frame task success
    preference(z) = MLP_p(z)             a per-frame score; a segment's score is its mean over
                                         the segment's frames, and P(A better than B) =
                                         sigmoid(score_A - score_B) (Bradley-Terry) is fit to
                                         the label store's labels (`robopref.rewards.prm_labels`)

They share the encoder and fusion with the progress head (that is how labels on pairs reach
the camera model) but the potential reads the progress head only: it is the same function
of the weights whether the heads are trained, untrained, or absent (a file saved before they
existed loads with them untrained, `trained_heads` empty, and scores as before).

One model can serve several tasks (``PRMConfig.tasks``): a learned embedding of the task is
added to the fused feature, ``z_t = LayerNorm(...) + task_embed_t``, before every head. The
model's current task (`ProcessRewardModel.task`, chosen with `ProcessRewardModel.for_task`)
conditions inference; training conditions each frame on its episode's task. Added after the
LayerNorm, the embedding is exactly a per-task LayerNorm bias, so exporting one task folds it
into ``norm_bias`` and the C evaluator runs a multi-task model unchanged. A single-task model
(``tasks`` empty) has no embedding and computes exactly what it did before.

Images are uint8 ``(H, W, 3)``; frames of another size are resized to ``image_size`` with
OpenCV's area interpolation (the documented resize), other dtypes or channel counts are
refused (`robopref.rewards.frames.check_frames`). Privileged sim progress is a training
*label* only (`robopref.rewards.prm_train`), never an input: the model sees pixels.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robopref.rewards.frames import check_frames
from robopref.rewards.model_file import (
    ModelFormatError,
    NonFiniteRewardError,
    read_model_file,
    write_model_file,
)

__all__ = [
    "HEADS",
    "PRMConfig",
    "PRMPrediction",
    "ProcessRewardModel",
    "hop_target",
    "progress_after_hop",
]

FORMAT_NAME = "robopref.process_reward"
# Version 2 adds the success and preference heads (and the ``heads`` list of trained ones);
# version 1 files load with both heads untrained. Version 3 is a multi-task model (``tasks``
# in its config, a task embedding in its weights); a single-task model is still written as
# version 2, without a ``tasks`` key, so robopref versions before it still read the file.
FORMAT_VERSION = 3
_SINGLE_TASK_VERSION = 2
_READS = (1, 2, 3)
#: The heads besides progress and hop, by their module names in `_PRMNet`.
HEADS = ("success", "preference")
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "tanh": torch.tanh,
}
# Frames per encoder pass at inference: bounds memory when relabelling a whole buffer.
_CHUNK = 512


@dataclasses.dataclass(frozen=True)
class PRMConfig:
    """Architecture and training hyperparameters of `ProcessRewardModel`."""

    views: tuple[str, ...] = ("front", "side", "wrist")
    """Camera names, in the order of the view embeddings and of exported feature rows."""
    image_size: int = 84
    """Square input size; other frame sizes are resized (OpenCV INTER_AREA)."""
    channels: tuple[int, int, int] = (16, 32, 32)
    """Widths of the three conv layers (Nature-DQN shape, kernels 8/4/3, strides 4/2/1)."""
    feature_dim: int = 64
    """Per-view feature size D."""
    hidden: tuple[int, ...] = (256,)
    """Hidden widths of the progress and hop MLPs."""
    tasks: tuple[str, ...] = ()
    """A multi-task model's tasks, in the order of its task embedding's rows (at least two);
    empty: a single-task model, with no embedding (`ProcessRewardModel.task` is metadata)."""
    activation: Literal["relu", "leaky_relu", "tanh"] = "relu"
    bins: int = 21
    """K progress bins at 0, 1/(K-1), ..., 1; targets are two-hot, so the expectation is
    unbiased for any progress in [0, 1]."""
    view_dropout: float = 0.3
    """Training drops each view with this probability (keeping at least one)."""
    final_fraction: float = 0.25
    """Share of each batch drawn from episodes' final frames: a successful episode ends on
    its only fully-solved frame, so without this the success states, which the
    success-vs-failure ranking hinges on, are a fraction of a percent of the data."""
    hop_weight: float = 0.5
    """Weight of the hop head's squared error against the bins' cross-entropy."""
    success_weight: float = 0.5
    """Weight of the success head's binary cross-entropy on per-frame task success; 0 leaves
    the head untrained (and training then moves the weights exactly as without the head)."""
    preference_weight: float = 1.0
    """Weight of the preference head's Bradley-Terry loss, when training on labelled pairs of
    segments (`prm_labels.finetune_prm`, or `prm_train.train_prm` with ``pairs``)."""
    preference_batch: int = 8
    """Labelled pairs per gradient step."""
    preference_frames: int = 4
    """Frames drawn from each segment per step; their mean score estimates the segment's."""
    shift: int = 4
    """Random-shift augmentation in pixels (DrQ, Kostrikov et al. 2021); 0 turns it off."""
    color_jitter: float = 0.3
    """Photometric augmentation in training (not at inference): each image's brightness and
    contrast are scaled by factors in [1 - j, 1 + j] and each colour channel by one in
    [1 - j/2, 1 + j/2], so the ranking does not hang on the exact light and colours of the
    training renders (randomized scenes, another renderer, a real camera); 0 turns it off.
    On by default: on randomized held-out episodes it lifted Spearman from 0.60 to 0.79
    (lift) and from 0.41 to 0.88 (push) at no loss on plain ones (README, "Robustness to
    randomized scenes")."""
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    """Frame pairs per step (both frames of a pair get the progress loss)."""
    steps: int = 1500
    """Gradient steps per `prm_train.train_prm` call."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("views", "channels", "hidden", "tasks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.views or len(set(self.views)) != len(self.views):
            raise ValueError(f"views must be distinct camera names, got {self.views!r}")
        if (
            len(self.tasks) == 1
            or len(set(self.tasks)) != len(self.tasks)
            or not all(isinstance(t, str) and t for t in self.tasks)
        ):
            raise ValueError(
                f"tasks must be empty (a single-task model) or two or more distinct task "
                f"names, got {self.tasks!r}"
            )
        if len(self.channels) != 3:
            raise ValueError(f"channels must have 3 widths, got {self.channels!r}")
        for name, value, low in (
            ("image_size", self.image_size, 36),
            ("feature_dim", self.feature_dim, 1),
            ("bins", self.bins, 2),
            ("batch_size", self.batch_size, 1),
            ("steps", self.steps, 0),
            ("shift", self.shift, 0),
            ("preference_batch", self.preference_batch, 1),
            ("preference_frames", self.preference_frames, 1),
            *((f"channels[{i}]", c, 1) for i, c in enumerate(self.channels)),
            *((f"hidden[{i}]", h, 1) for i, h in enumerate(self.hidden)),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not (isinstance(self.color_jitter, int | float) and 0.0 <= self.color_jitter < 1.0):
            raise ValueError(f"color_jitter must be in [0, 1), got {self.color_jitter!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation: unknown {self.activation!r}; valid: {list(_ACTIVATIONS)}"
            )
        for name in (
            "view_dropout",
            "final_fraction",
            "hop_weight",
            "success_weight",
            "preference_weight",
            "lr",
            "weight_decay",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.view_dropout >= 1 or self.final_fraction > 1 or self.lr == 0:
            raise ValueError(f"need view_dropout < 1, final_fraction <= 1 and lr > 0, got {self}")


class PRMPrediction(NamedTuple):
    """What `ProcessRewardModel.predict` returns for ``N`` observations."""

    potential: np.ndarray
    """float64 ``(N,)``: the expected progress, ``Phi``."""
    bins: np.ndarray
    """float32 ``(N, K)``: the progress distribution."""
    views_used: tuple[str, ...]
    missing_views: tuple[str, ...]
    """Configured views absent from the input (the prediction used the others)."""


def hop_target(p_from: np.ndarray, p_to: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Robo-Dopamine's relative hop: progress made over progress left, regress over made.

    ``(p_to - p_from) / (1 - p_from)`` when progress goes up, ``/ p_from`` when it goes
    down; in [-1, 1]: 1 means "reached the goal", -1 "back to the start".
    """
    p_from, p_to = np.asarray(p_from, np.float64), np.asarray(p_to, np.float64)
    d = p_to - p_from
    denom = np.where(d >= 0, 1.0 - p_from, p_from)
    return np.clip(d / np.maximum(denom, eps), -1.0, 1.0)


def progress_after_hop(p_from: np.ndarray, hop: np.ndarray) -> np.ndarray:
    """The inverse of `hop_target`: the progress a hop of ``hop`` from ``p_from`` reaches.

    With ``p_from`` the potential of an episode's first frame and ``hop`` the hop head from
    that frame, this is Robo-Dopamine's forward-anchored progress estimate.
    """
    p_from = np.asarray(p_from, np.float64)
    hop = np.clip(np.asarray(hop, np.float64), -1.0, 1.0)
    return np.where(hop >= 0, p_from + hop * (1.0 - p_from), p_from + hop * p_from)


class _PRMNet(nn.Module):
    centers: torch.Tensor  # a buffer (register_buffer), typed for mypy

    def __init__(self, cfg: PRMConfig):
        super().__init__()
        c1, c2, c3 = cfg.channels
        side = cfg.image_size
        for k, s in ((8, 4), (4, 2), (3, 1)):
            side = (side - k) // s + 1
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c1, 8, 4),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, 2),
            nn.ReLU(),
            nn.Conv2d(c2, c3, 3, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c3 * side * side, cfg.feature_dim),
            # DrQ's encoder trunk ends the same way: bounded features keep attention scores
            # and the fused LayerNorm well conditioned whatever the image statistics.
            nn.LayerNorm(cfg.feature_dim),
            nn.Tanh(),
        )
        d, v = cfg.feature_dim, len(cfg.views)
        self.view_embed = nn.Parameter(torch.randn(v, d) * 0.02)
        self.attn_query = nn.Parameter(torch.zeros(d))  # starts as a plain mean
        self.norm = nn.LayerNorm(d)
        self.act = _ACTIVATIONS[cfg.activation]

        def mlp(sizes: Sequence[int]) -> nn.ModuleList:
            return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

        self.progress = mlp((d, *cfg.hidden, cfg.bins))
        self.hop = mlp((3 * d, *cfg.hidden, 1))
        # Made after every other layer: the seeded init of those is the same as before the
        # heads existed, so the potential of a model of a given seed did not change.
        self.success = mlp((d, *cfg.hidden, 1))
        self.preference = mlp((d, *cfg.hidden, 1))
        # Additive rather than FiLM, as the simplest that works: a shift of the fused feature
        # already changes which hidden units of each head's MLP fire, so every head can
        # compute another function per task; and after the LayerNorm it is exactly a per-task
        # LayerNorm bias, which export folds into the head. (FiLM's scale would fold into
        # norm_weight too, at twice the parameters.) nn.Embedding's N(0, 1) init is the scale
        # of the LayerNorm output it is added to, so the tasks start apart; from zeros, Adam
        # moves them about lr per step and the heads first fit a task-agnostic compromise
        # (two mirrored synthetic tasks, 300 steps: Spearman over both 0.64 from zeros, 0.99
        # from N(0, 1)). Made last, like the heads, so the seeded init of every other layer
        # is that of a single-task model.
        self.task_embed: nn.Embedding | None = None
        if cfg.tasks:
            self.task_embed = nn.Embedding(len(cfg.tasks), d)
        self.register_buffer("centers", torch.linspace(0.0, 1.0, cfg.bins), persistent=False)

    def _run(self, layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(layers):
            x = layer(x)
            if i < len(layers) - 1:
                x = self.act(x)
        return x

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, V, 3, S, S)`` float in [0, 1] -> ``(N, V, D)`` per-view features."""
        n, v = images.shape[:2]
        return self.encoder(images.flatten(0, 1)).view(n, v, -1)

    def fuse(
        self, feats: torch.Tensor, mask: torch.Tensor, task: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(N, V, D)`` features and ``(N, V)`` bool mask -> ``(N, D)`` fused feature.

        ``task``: int64 ``(N,)`` row of each observation's task in the embedding; required
        by a multi-task net, refused by a single-task one.
        """
        h = feats + self.view_embed
        scores = (h @ self.attn_query) / math.sqrt(h.shape[-1])
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        z = self.norm((weights.unsqueeze(-1) * h).sum(1))
        if self.task_embed is None:
            if task is not None:
                raise ValueError("a single-task PRM has no task embedding to condition on")
            return z
        if task is None:
            raise ValueError("a multi-task PRM needs the task of each observation to fuse")
        return z + self.task_embed(task)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self._run(self.progress, z)

    def hop_pred(self, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self._run(self.hop, torch.cat([za, zb, zb - za], -1)).squeeze(-1))

    def success_logit(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` fused features -> ``(N,)`` logits of P(success)."""
        return self._run(self.success, z).squeeze(-1)

    def preference_score(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` fused features -> ``(N,)`` per-frame preference scores."""
        return self._run(self.preference, z).squeeze(-1)


class ProcessRewardModel:
    """The multi-view PRM: ``potential(obs) -> Phi`` in [0, 1], plus the hop head.

    A multi-task model (``config.tasks``) conditions every output on its current `task`,
    which must be chosen (`for_task`) before inference or export.

    Args:
        config: architecture and training settings (defaults: `PRMConfig()`).
        name: names the model in errors and logs.
        task: a single-task model: the task it was trained for (metadata; not checked at
            inference). A multi-task model: its current task, one of ``config.tasks``, or
            ``""`` for none chosen yet.

    Raises:
        ValueError: a multi-task model given a task it does not know.
    """

    def __init__(self, config: PRMConfig | None = None, name: str = "prm", task: str = ""):
        self.config = config if config is not None else PRMConfig()
        self.name = str(name)
        self.task = task  # checked by the setter against a multi-task model's tasks
        # Seeded init without touching the caller's global torch RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.net = _PRMNet(self.config)
        self.net.eval()
        self.last_missing_views: tuple[str, ...] = ()
        self.history: list[dict[str, Any]] = []  # training summaries, saved with the model
        self.trained_heads: set[str] = set()  # which of HEADS were trained; others refuse

    # ------------------------------------------------------------------ tasks
    @property
    def tasks(self) -> tuple[str, ...]:
        """A multi-task model's tasks (``config.tasks``); empty for a single-task model."""
        return self.config.tasks

    @property
    def task(self) -> str:
        """The task: a single-task model's (metadata), or a multi-task model's current one."""
        return self._task

    @task.setter
    def task(self, name: str) -> None:
        name = str(name)
        if self.tasks and name:  # "" is a multi-task model with no task chosen
            self._check_known(name)
        self._task = name

    def _check_known(self, name: str) -> None:
        if name not in self.tasks:
            raise ValueError(
                f"model {self.name!r} was not trained on task {name!r}; it knows {list(self.tasks)}"
            )

    def for_task(self, name: str) -> ProcessRewardModel:
        """Conditions a multi-task model on task ``name`` from now on; returns the model.

        In place (the weights are shared by every task), and returned so that
        ``ProcessRewardModel.load(path).for_task(name)`` reads as one step.

        Raises:
            ValueError: ``name`` is not one of `tasks` (the message lists them), or the model
                is a single-task one of another task (it has no conditioning to choose).
        """
        if not self.tasks:
            if name != self.task:
                raise ValueError(
                    f"model {self.name!r} is a single-task PRM of task {self.task!r}: it has "
                    f"no conditioning for task {name!r}"
                )
            return self
        self._check_known(name)  # unlike the setter, refuses "" too: choosing is naming one
        self.task = name
        return self

    def task_index(self, n: int) -> torch.Tensor | None:
        """The current task's embedding row for ``n`` observations, int64 ``(n,)``; None for a
        single-task model (what `_PRMNet.fuse` takes).

        Raises:
            ValueError: a multi-task model with no task chosen.
        """
        if not self.tasks:
            return None
        if not self.task:
            raise ValueError(
                f"model {self.name!r} is a multi-task PRM of tasks {list(self.tasks)}: choose "
                "one first (`for_task(name)`; `--task NAME` on the command line)"
            )
        return torch.full((n,), self.tasks.index(self.task), dtype=torch.int64)

    # ------------------------------------------------------------------ inputs
    def images(self, frames_by_view: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Stacks the configured views present: uint8 ``(N, V, S, S, 3)``, mask ``(N, V)``.

        Raises:
            ValueError: no configured view present, bad dtype/shape, or mismatched ``N``.
        """
        cfg, s = self.config, self.config.image_size
        present = [v for v in cfg.views if v in frames_by_view]
        missing = tuple(v for v in cfg.views if v not in frames_by_view)
        if not present:
            raise ValueError(
                f"model {self.name!r}: none of its views {list(cfg.views)} in the input "
                f"(got {sorted(frames_by_view)})"
            )
        arrays = {v: check_frames(f"view {v!r}", frames_by_view[v]) for v in present}
        n = {a.shape[0] for a in arrays.values()}
        if len(n) != 1:
            raise ValueError(
                f"views have different frame counts: { {v: a.shape[0] for v, a in arrays.items()} }"
            )
        (n,) = n
        out = np.zeros((n, len(cfg.views), s, s, 3), np.uint8)
        for v, a in arrays.items():
            i = cfg.views.index(v)
            if a.shape[1:3] != (s, s):
                import cv2  # resize only when needed; OpenCV's area filter is the documented one

                a = np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in a])
            out[:, i] = a
        mask = np.zeros((n, len(cfg.views)), bool)
        mask[:, [cfg.views.index(v) for v in present]] = True
        return out, mask, missing

    @staticmethod
    def to_tensor(images: np.ndarray) -> torch.Tensor:
        """uint8 ``(N, V, S, S, 3)`` -> float ``(N, V, 3, S, S)`` in [0, 1]."""
        return torch.from_numpy(images).permute(0, 1, 4, 2, 3).float().div_(255.0)

    # ------------------------------------------------------------------ inference
    def _check_finite(self, what: str, x: torch.Tensor) -> None:
        if not torch.isfinite(x).all():
            raise NonFiniteRewardError(f"model {self.name!r} produced NaN or inf {what}")

    @torch.no_grad()
    def features(self, frames_by_view: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Per-view encoder features float32 ``(N, V, D)`` and the view mask ``(N, V)``.

        The C evaluator's ``potential(features, mask)`` takes exactly these.
        """
        images, mask, missing = self.images(frames_by_view)
        self.last_missing_views = missing
        feats = [
            self.net.encode(self.to_tensor(images[i : i + _CHUNK]))
            for i in range(0, len(images), _CHUNK)
        ]
        out = (
            torch.cat(feats)
            if feats
            else torch.zeros(0, len(self.config.views), self.config.feature_dim)
        )
        self._check_finite("features", out)
        return out.numpy(), mask

    def _fused(self, frames_by_view: Mapping[str, Any]) -> torch.Tensor:
        feats, mask = self.features(frames_by_view)
        return self.net.fuse(
            torch.from_numpy(feats), torch.from_numpy(mask), self.task_index(len(feats))
        )

    @torch.no_grad()
    def predict(self, frames_by_view: Mapping[str, Any]) -> PRMPrediction:
        """Potential and progress bins of ``N`` observations, from the views present."""
        probs = torch.softmax(self.net.logits(self._fused(frames_by_view)), -1)
        self._check_finite("progress bins", probs)
        potential = (probs.double() @ self.net.centers.double()).numpy()
        present = tuple(v for v in self.config.views if v not in self.last_missing_views)
        return PRMPrediction(potential, probs.numpy(), present, self.last_missing_views)

    def potential_batch(self, frames_by_view: Mapping[str, Any]) -> np.ndarray:
        """``Phi`` of ``N`` observations, float64 ``(N,)`` (for relabelling)."""
        return self.predict(frames_by_view).potential

    def potential(self, obs: Mapping[str, Any]) -> float:
        """``Phi(obs)`` of one observation (a dict with a ``(H, W, 3)`` image per camera).

        Views missing from ``obs`` are skipped and named in ``last_missing_views``.
        """
        views = {v: np.asarray(obs[v])[None] for v in self.config.views if v in obs}
        return float(self.predict(views).potential[0])

    __call__ = potential

    @torch.no_grad()
    def hop(self, frames_from: Mapping[str, Any], frames_to: Mapping[str, Any]) -> np.ndarray:
        """Predicted relative hop (see `hop_target`) from each ``frames_from`` to ``frames_to``."""
        fa, ma = self.features(frames_from)
        fb, mb = self.features(frames_to)
        if fa.shape != fb.shape:
            raise ValueError(f"hop: {fa.shape[0]} 'from' frames but {fb.shape[0]} 'to' frames")
        task = self.task_index(len(fa))
        za = self.net.fuse(torch.from_numpy(fa), torch.from_numpy(ma), task)
        zb = self.net.fuse(torch.from_numpy(fb), torch.from_numpy(mb), task)
        out = self.net.hop_pred(za, zb)
        self._check_finite("hop", out)
        return out.double().numpy()

    def _require_head(self, head: str) -> None:
        if head not in self.trained_heads:
            raise ValueError(
                f"model {self.name!r}: its {head} head was never trained (a file saved before "
                f"the heads existed, or trained without {head} data); train it with "
                "`robopref reward train-prm` or on labels with `robopref reward finetune-prm`"
            )

    @torch.no_grad()
    def success_probability(self, frames_by_view: Mapping[str, Any]) -> np.ndarray:
        """P(success) of ``N`` observations from the success head, float64 ``(N,)`` in [0, 1].

        Raises:
            ValueError: the success head was never trained (`trained_heads`), or bad frames.
        """
        self._require_head("success")
        out = torch.sigmoid(self.net.success_logit(self._fused(frames_by_view)))
        self._check_finite("success probabilities", out)
        return out.double().numpy()

    @torch.no_grad()
    def preference_scores(self, frames_by_view: Mapping[str, Any]) -> np.ndarray:
        """Per-frame preference scores of ``N`` observations, float64 ``(N,)``.

        A segment's score is their mean (`segment_score`); only differences between segments
        mean anything (Bradley-Terry fixes no offset).

        Raises:
            ValueError: the preference head was never trained, or bad frames.
        """
        self._require_head("preference")
        out = self.net.preference_score(self._fused(frames_by_view))
        self._check_finite("preference scores", out)
        return out.double().numpy()

    def segment_score(self, frames_by_view: Mapping[str, Any]) -> float:
        """A segment's preference score: the mean of its frames' scores.

        ``P(A better than B) = sigmoid(segment_score(A) - segment_score(B))``.
        """
        return float(self.preference_scores(frames_by_view).mean())

    # ------------------------------------------------------------------ export, save, load
    def numpy_head(self, heads: Sequence[str] | None = None) -> dict[str, Any]:
        """The head after the encoder as NumPy arrays (the C evaluator's PRM head).

        Keys: ``views``, ``view_embed`` (V, D), ``attn_query`` (D,), ``norm_weight``,
        ``norm_bias`` (D,), ``norm_eps``, ``weights`` [(in, out)...], ``biases`` [(out,)...],
        ``activation``, ``bin_centers`` (K,); all arrays float32. Each of `HEADS` to export
        adds a key of its name: ``{"weights": [...], "biases": [...]}`` (an MLP from D to 1;
        the evaluator's ``success_probability`` applies the sigmoid).

        A multi-task model exports its current task: that task's embedding is added to
        ``norm_bias`` (the embedding is added right after the LayerNorm), so the head computes
        the conditioned model with no task input.

        Args:
            heads: which of `HEADS` to export; default: the trained ones
                (`trained_heads`), since an untrained head's outputs mean nothing.

        Raises:
            ValueError: a name not in `HEADS`, a head asked for that was never trained, or a
                multi-task model with no task chosen.
        """
        net = self.net
        norm_bias: torch.Tensor = net.norm.bias
        if net.task_embed is not None:
            if not self.task:
                raise ValueError(
                    f"numpy_head: model {self.name!r} is a multi-task PRM of tasks "
                    f"{list(self.tasks)}: choose the task to export (`for_task(name)`; "
                    "`robopref export --prm-task NAME`)"
                )
            norm_bias = norm_bias + net.task_embed.weight[self.tasks.index(self.task)]

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().float().numpy().copy()

        def mlp(layers: nn.ModuleList) -> dict[str, list[np.ndarray]]:
            return {
                "weights": [arr(cast(nn.Linear, layer).weight.T) for layer in layers],
                "biases": [arr(cast(nn.Linear, layer).bias) for layer in layers],
            }

        names = sorted(self.trained_heads) if heads is None else list(heads)
        for name in names:
            if name not in HEADS:
                raise ValueError(f"numpy_head: unknown head {name!r}; valid: {list(HEADS)}")
            self._require_head(name)
        return {
            "views": list(self.config.views),
            "view_embed": arr(net.view_embed),
            "attn_query": arr(net.attn_query),
            "norm_weight": arr(net.norm.weight),
            "norm_bias": arr(norm_bias),
            "norm_eps": float(net.norm.eps),
            **mlp(net.progress),
            "activation": self.config.activation,
            "bin_centers": arr(net.centers),
            **{name: mlp(getattr(net, name)) for name in names},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the model atomically; it loads with ``torch.load(weights_only=True)``.

        A multi-task model keeps its tasks and its current task.
        """
        cfg = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self.config).items()
        }
        if not self.tasks:
            del cfg["tasks"]  # the version-2 file of before (see FORMAT_VERSION)
        payload = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION if self.tasks else _SINGLE_TASK_VERSION,
            "name": self.name,
            "task": self.task,
            "config": cfg,
            "history": self.history,
            "heads": sorted(self.trained_heads),
            "state_dict": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
        }
        return write_model_file(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProcessRewardModel:
        """Reads a model written by `save`, or by a robopref before the heads (version 1).

        A multi-task model (version 3) comes back with its tasks and current task. A version-1
        file has no success or preference head: they are left at their seeded initialization
        and untrained (`trained_heads` empty); the potential is the saved one.

        Raises:
            FileNotFoundError: no such file.
            ModelFormatError: naming the file, if it is corrupt, not a PRM, or another version.
        """
        path = Path(path)
        obj = read_model_file(path, FORMAT_NAME, _READS)
        try:
            model = cls(PRMConfig(**obj["config"]), name=obj["name"], task=obj["task"])
            missing, unexpected = model.net.load_state_dict(obj["state_dict"], strict=False)
            absent_ok = HEADS if obj["version"] == 1 else ()
            missing = [k for k in missing if k.split(".")[0] not in absent_ok]
            if missing or unexpected:
                raise ValueError(f"missing weights {missing}, unexpected weights {unexpected}")
            heads = set(obj.get("heads", []))
            if not heads <= set(HEADS):
                raise ValueError(f"unknown heads {sorted(heads - set(HEADS))}")
            model.trained_heads = heads
            model.history = list(obj.get("history", []))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ModelFormatError(f"{path}: inconsistent {FORMAT_NAME} contents: {e}") from e
        return model

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ProcessRewardModel(name={self.name!r}, task={self.task!r}, "
            + (f"tasks={list(c.tasks)}, " if c.tasks else "")
            + f"views={list(c.views)}, image_size={c.image_size}, bins={c.bins}, "
            f"heads={sorted(self.trained_heads)})"
        )
