"""The configuration of the preference reward model (`PreferenceRewardModel`).

Its own module, without torch, so that the training config (`robopref.rl.config`) embeds it
as ``pebble.reward`` and the UI, the CLI's ``--list-keys`` and a config file's check read it
without importing the model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

__all__ = ["PreferenceRewardConfig"]

_ACTIVATIONS = ("leaky_relu", "relu", "tanh")
_OUTPUTS = ("tanh", "none")
_INPUTS = ("state", "state_action", "frames")


@dataclasses.dataclass(frozen=True)
class PreferenceRewardConfig:
    """Hyperparameters of `PreferenceRewardModel` (defaults follow PEBBLE / B-Pref)."""

    ensemble_size: int = 3
    """Members; their spread is the uncertainty that query selection uses (>= 3 advised)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of each member's MLP (B-Pref uses three layers of 256)."""
    activation: Literal["leaky_relu", "relu", "tanh"] = "leaky_relu"
    """Hidden-layer nonlinearity."""
    output_activation: Literal["tanh", "none"] = "tanh"
    """``"tanh"`` bounds the per-step reward to [-1, 1] as PEBBLE does, which keeps the
    learner's value scale stable while the reward model keeps changing; ``"none"``: linear."""
    lr: float = 3e-4
    """Adam(W) learning rate."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW)."""
    batch_size: int = 128
    """Pairs per minibatch (each member draws its own)."""
    epochs: int = 50
    """Passes over each member's training pairs per `PreferenceRewardModel.train` call."""
    bootstrap: bool = True
    """Each member trains on its own resample (with replacement) of the pairs, as in
    Christiano et al. 2017; False: all members see all pairs (they differ by init only;
    B-Pref's setting, each member in its own order)."""
    label_smoothing: float = 0.0
    """Targets become ``y * (1 - eps) + eps / 2``; in [0, 1)."""
    label_noise: float = 0.0
    """Robust Bradley-Terry: ``P = (1 - eps) * sigmoid(dR) + eps / 2``, the teacher answers at
    random with probability eps (Christiano et al. used 0.1); in [0, 1). Bounds the loss of a
    mislabelled pair, so flipped labels cannot dominate the fit."""
    input: Literal["state", "state_action", "frames"] = "state_action"
    """What each member sees: ``r(s)``, ``r(s, a)``, or ``r(frame)``: one camera's uint8
    ``image_size`` x ``image_size`` RGB frames, flattened to ``obs_dim = image_size**2 * 3``
    values (`batch_from_segments` with ``view=``), through a small CNN per member. Frames
    are scaled by 1/255; ``normalize_inputs`` applies to state inputs only."""
    image_size: int = 64
    """Frame height and width for ``input="frames"``."""
    cnn_channels: tuple[int, ...] = (16, 32, 32)
    """Conv widths of the frame encoder (kernels 8/4/3, strides 4/2/1, as Nature DQN)."""
    cnn_features: int = 64
    """Size of the encoder's output, the MLP's input, for ``input="frames"``."""
    normalize_inputs: bool = True
    """Standardize inputs with the running mean/std of all training inputs seen; the stats
    are part of the model (saved, used at inference, exported with the head). B-Pref: raw
    inputs."""
    seed: int = 0
    """Seeds the initial weights and, unless `train` gets its own, the resampling. In a
    training run (``pebble.reward``) the run's ``seed`` seeds the model: leave this 0."""

    def __post_init__(self) -> None:
        def check_int(name: str, low: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")

        for name, low in (
            ("ensemble_size", 1),
            ("batch_size", 1),
            ("epochs", 0),
            ("image_size", 36),
            ("cnn_features", 1),
        ):
            check_int(name, low)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        hidden = tuple(self.hidden) if isinstance(self.hidden, list | tuple) else None
        if hidden is None or not all(
            isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden
        ):
            raise ValueError(f"hidden must be a tuple of ints >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", hidden)
        channels = tuple(self.cnn_channels) if isinstance(self.cnn_channels, list | tuple) else ()
        if len(channels) != 3 or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels
        ):
            raise ValueError(f"cnn_channels must be 3 ints >= 1, got {self.cnn_channels!r}")
        object.__setattr__(self, "cnn_channels", channels)
        for name, valid in (
            ("activation", _ACTIVATIONS),
            ("output_activation", _OUTPUTS),
            ("input", _INPUTS),
        ):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}: unknown {getattr(self, name)!r}; valid: {valid}")
        for name, v in ((n, getattr(self, n)) for n in ("lr", "weight_decay")):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr == 0:
            raise ValueError("lr must be > 0, got 0")
        for name, v in ((n, getattr(self, n)) for n in ("label_smoothing", "label_noise")):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {v!r}")
        if not isinstance(self.bootstrap, bool) or not isinstance(self.normalize_inputs, bool):
            raise ValueError("bootstrap and normalize_inputs must be bools")
