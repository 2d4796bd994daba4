"""A preference reward model: an ensemble of per-step rewards fit to pairwise labels.

Christiano et al., "Deep Reinforcement Learning from Human Preferences" (NeurIPS 2017),
model a label on a pair of segments with the Bradley-Terry choice rule

    P(A > B) = sigmoid(sum_t r(s_t^A, a_t^A) - sum_t r(s_t^B, a_t^B)),

and fit ``r`` by cross-entropy against the label (1 for "a", 0 for "b", 0.5 for "equal").
PEBBLE (Lee, Smith & Abbeel, ICML 2021) and the B-Pref benchmark (Lee et al., NeurIPS 2021
Datasets) use this model with an ensemble of MLPs (LeakyReLU hidden layers, a tanh output
that bounds the per-step reward) whose disagreement picks the next queries. This module is
that model (DESIGN.md contract 4: ``r(obs, action)`` with ensemble mean and spread):

* `PreferenceRewardConfig`: the typed, validated configuration.
* `PreferenceRewardModel`: ``train``, ``reward``, ``reward_members``,
  ``predict_preference``, ``disagreement``, ``save``/``load`` and ``numpy_head`` (the
  weights and input normalization, for the C evaluator's exporter).

Two options make the fit robust to wrong labels (B-Pref's "mistake" teachers, tired humans):
``label_noise`` is Christiano et al.'s assumption that the teacher answers uniformly at
random with some probability (``P = (1 - eps) * sigmoid + eps / 2``; a confidently
contradicted pair then costs at most ``-log(eps / 2)`` and its gradient vanishes), and
``label_smoothing`` moves the targets towards 0.5 (Szegedy et al. 2016).

The members are stacked into batched weight tensors ``(E, in, out)``, so the whole ensemble
runs as one batched matmul per layer; Adam's update is elementwise, so one optimizer over
the stacked tensors trains the members exactly as independent optimizers would.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robopref.preferences.batches import PreferenceBatch
from robopref.rewards.model_file import (
    ModelFormatError,
    NonFiniteRewardError,
    read_model_file,
    write_model_file,
)
from robopref.rewards.preference_config import PreferenceRewardConfig

__all__ = ["PreferenceRewardConfig", "PreferenceRewardModel"]

logger = logging.getLogger(__name__)

FORMAT_NAME = "robopref.preference_reward"
FORMAT_VERSION = 1

# LeakyReLU's default slope (0.01) is part of the exported head (`numpy_head`).
_ACTIVATION_FNS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": F.leaky_relu,
    "relu": F.relu,
    "tanh": torch.tanh,
}
# Rows per forward pass when the inputs are frames (conv activations, not just weights).
_CHUNK_FRAMES = 256
# Variance floor of the input normalization: a feature that was constant in the training
# data (a gripper never moved) would otherwise be divided by ~0 when it moves at inference.
_VAR_EPS = 1e-6
# Rows per forward pass at inference, to bound memory on large relabelling batches.
_CHUNK_ROWS = 65_536


class _EnsembleMLP(nn.Module):
    """``E`` MLPs evaluated together: ``(E, N, in) -> (E, N)`` per-step rewards."""

    # Buffers (register_buffer), typed for mypy.
    in_mean: torch.Tensor
    in_std: torch.Tensor

    def __init__(self, cfg: PreferenceRewardConfig, in_dim: int, generator: torch.Generator):
        super().__init__()
        self.activation, self.output_activation = cfg.activation, cfg.output_activation
        e, sizes = cfg.ensemble_size, (in_dim, *cfg.hidden, 1)
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # nn.Linear's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn per member.
            bound = 1.0 / math.sqrt(fan_in)
            for shape, params in (
                ((e, fan_in, fan_out), self.weights),
                ((e, 1, fan_out), self.biases),
            ):
                w = (torch.rand(shape, generator=generator) * 2 - 1) * bound
                params.append(nn.Parameter(w))
        # Normalization lives with the net (not persistent: the saved header holds the stats).
        self.register_buffer("in_mean", torch.zeros(in_dim), persistent=False)
        self.register_buffer("in_std", torch.ones(in_dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x - self.in_mean) / self.in_std
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = _ACTIVATION_FNS[self.activation](h)
        h = h.squeeze(-1)
        return torch.tanh(h) if self.output_activation == "tanh" else h


class _EnsembleCNN(nn.Module):
    """``E`` frame rewards evaluated together: ``(E, N, S*S*3)`` flat uint8 frames -> ``(E, N)``.

    The members' conv trunks run as one grouped convolution (``groups=E``), so the ensemble
    costs one pass like the MLP ensemble; each trunk feeds its own member of an
    `_EnsembleMLP` head.
    """

    def __init__(self, cfg: PreferenceRewardConfig, generator: torch.Generator):
        super().__init__()
        e, s = cfg.ensemble_size, cfg.image_size
        c1, c2, c3 = cfg.cnn_channels
        layers, c_in = [], 3
        for c_out, k, stride in ((c1, 8, 4), (c2, 4, 2), (c3, 3, 1)):
            layers += [nn.Conv2d(e * c_in, e * c_out, k, stride, groups=e), nn.ReLU()]
            c_in, s = c_out, (s - k) // stride + 1
        self.trunk = nn.Sequential(*layers)
        self.side, self.channels = s, c3
        flat = c3 * s * s
        bound = 1.0 / math.sqrt(flat)
        self.proj_w = nn.Parameter(
            (torch.rand(e, flat, cfg.cnn_features, generator=generator) * 2 - 1) * bound
        )
        self.proj_b = nn.Parameter(
            (torch.rand(e, 1, cfg.cnn_features, generator=generator) * 2 - 1) * bound
        )
        self.head = _EnsembleMLP(cfg, cfg.cnn_features, generator)
        self.image_size = cfg.image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, n, _ = x.shape
        s = self.image_size
        img = (x / 255.0).view(e, n, s, s, 3).permute(1, 0, 4, 2, 3).reshape(n, e * 3, s, s)
        h = self.trunk(img).view(n, e, -1).transpose(0, 1)  # (E, N, c3 * side * side)
        h = torch.relu(torch.baddbmm(self.proj_b, h, self.proj_w))
        return self.head(h)


def _check_array(name: str, value: Any, ndim: int, last: int | None) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    if a.ndim != ndim or (last is not None and a.shape[-1] != last):
        want = f"{ndim}-D" + ("" if last is None else f" with last dimension {last}")
        raise ValueError(f"{name}: expected a {want} array, got shape {a.shape}")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or inf (shape {a.shape})")
    return a


class PreferenceRewardModel:
    """An ensemble of per-step rewards ``r(s, a)`` trained on pairwise preferences.

    Args:
        obs_dim: size ``D`` of an observation ("state") vector.
        act_dim: size ``A`` of an action; required when ``config.input == "state_action"``.
        config: hyperparameters (defaults: `PreferenceRewardConfig()`).
        name: names the model in errors and logs (e.g. the run's reward-model id).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int | None = None,
        config: PreferenceRewardConfig | None = None,
        name: str = "preference_reward",
    ) -> None:
        self.config = config if config is not None else PreferenceRewardConfig()
        self.name = str(name)
        uses_act = self.config.input == "state_action"
        for label, v, required in (("obs_dim", obs_dim, True), ("act_dim", act_dim, uses_act)):
            if v is None and not required:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(
                    f"{label} must be an int >= 1, got {v!r} (input={self.config.input!r})"
                )
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.in_dim = obs_dim + (cast(int, act_dim) if uses_act else 0)  # checked above
        gen = torch.Generator().manual_seed(self.config.seed)
        if self.config.input == "frames":
            want = self.config.image_size**2 * 3
            if obs_dim != want:
                raise ValueError(
                    f"obs_dim must be image_size**2 * 3 = {want} for input='frames', got {obs_dim}"
                )
            with torch.random.fork_rng(devices=[]):  # conv init draws from torch's RNG
                torch.manual_seed(self.config.seed)
                self._net: nn.Module = _EnsembleCNN(self.config, gen)
        else:
            self._net = _EnsembleMLP(self.config, self.in_dim, gen)
        self._opt = torch.optim.AdamW(
            self._net.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        self._rng = np.random.default_rng(self.config.seed)
        # Input statistics of the last training set (float64).
        self._count = 0.0
        self._mean = np.zeros(self.in_dim)
        self._var = np.ones(self.in_dim)

    # ------------------------------------------------------------------ inputs
    def _inputs(self, obs: Any, act: Any, lead: int, what: str) -> np.ndarray:
        """Validates ``obs`` (and ``act``) with ``lead`` leading axes; returns model inputs."""
        obs = _check_array(f"{what}obs", obs, lead + 1, self.obs_dim)
        if self.config.input != "state_action":
            return obs
        if act is None:
            raise ValueError(f"{what}act: model {self.name!r} takes (state, action); got None")
        act = _check_array(f"{what}act", act, lead + 1, self.act_dim)
        if act.shape[:-1] != obs.shape[:-1]:
            raise ValueError(
                f"{what}act: leading shape {act.shape[:-1]} differs from obs {obs.shape[:-1]}"
            )
        return np.concatenate([obs, act], axis=-1)

    def _check_batch(self, batch: PreferenceBatch) -> tuple[np.ndarray, ...]:
        if not isinstance(batch, PreferenceBatch):
            raise ValueError(f"expected a PreferenceBatch, got {type(batch).__name__}")
        xa = self._inputs(batch.obs_a, batch.act_a, 2, "batch.")
        xb = self._inputs(batch.obs_b, batch.act_b, 2, "batch.")
        if xa.shape != xb.shape:
            raise ValueError(f"batch: A segments {xa.shape[:2]} and B {xb.shape[:2]} differ")
        n = xa.shape[0]
        label = np.asarray(batch.label, dtype=np.float32)
        if label.shape != (n,) or not ((label >= 0) & (label <= 1)).all():
            raise ValueError(
                f"batch.label: expected {n} values in [0, 1] (1 = A, 0 = B, 0.5 = equal), got "
                f"shape {label.shape} (NaN means an unmasked 'skip' label; see labels_to_targets)"
            )
        weight = np.ones(n, np.float32) if batch.weight is None else batch.weight
        weight = np.asarray(weight, dtype=np.float32)
        if weight.shape != (n,) or not (np.isfinite(weight).all() and (weight >= 0).all()):
            raise ValueError(f"batch.weight: expected {n} finite values >= 0, got {weight!r}")
        return xa, xb, label, weight

    def _fit_normalizer(self, x: np.ndarray) -> None:
        x = x.reshape(-1, self.in_dim).astype(np.float64)
        self._count, self._mean, self._var = float(len(x)), x.mean(0), x.var(0)
        self._sync_normalizer()

    def _sync_normalizer(self) -> None:
        if self.config.normalize_inputs and self._count > 0 and self.config.input != "frames":
            net = cast(_EnsembleMLP, self._net)  # input != "frames": the MLP ensemble
            net.in_mean.copy_(torch.as_tensor(self._mean, dtype=torch.float32))
            std = np.sqrt(self._var + _VAR_EPS)
            net.in_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    # ------------------------------------------------------------------ training
    def _returns(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x (E, M, L, in)`` segments -> ``(E, M)`` predicted returns (sum of rewards).

        ``mask (E, M, L)`` of 0/1 keeps only some steps of each segment (temporal cropping).
        """
        e, m, length, d = x.shape
        r = self._net(x.reshape(e, m * length, d)).reshape(e, m, length)
        return (r if mask is None else r * mask).sum(-1)

    @staticmethod
    def crop_masks(
        shape: tuple[int, int], length: int, crop: int, gen: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SURF's temporal cropping: for each pair, A and B keep a window of the same random
        length in ``[length - 2 * crop, length]``, each at its own random offset.

        SURF stores segments ``crop`` steps longer at both ends and crops to ``length +- crop``;
        our queried segments are exactly ``length`` long (the teacher judged those steps), so
        the window shrinks from ``length`` instead. Returns float masks ``(E, M, L)``.
        """
        if not 0 <= 2 * crop < length:
            raise ValueError(f"crop must be in [0, {length} / 2), got {crop!r}")
        e, m = shape
        keep = gen.integers(length - 2 * crop, length + 1, size=(e, m))
        steps = np.arange(length)
        masks = []
        for _ in range(2):
            start = gen.integers(0, length - keep + 1)
            masks.append((steps >= start[..., None]) & (steps < (start + keep)[..., None]))
        return torch.from_numpy(masks[0]).float(), torch.from_numpy(masks[1]).float()

    def _pseudo_loss(
        self,
        ua: torch.Tensor,
        ub: torch.Tensor,
        idx: torch.Tensor,
        threshold: float,
        crop: int,
        gen: np.random.Generator,
    ) -> torch.Tensor:
        """SURF's semi-supervised term per member: each member labels the unlabelled pairs
        ``idx (E, U)`` it is confident about (``max(P, 1 - P) >= threshold`` on the whole
        segments) and is trained to agree with itself on (cropped) views of them."""
        xa, xb = ua[idx], ub[idx]
        with torch.no_grad():
            p = torch.sigmoid(self._returns(xa) - self._returns(xb))
            confident = (torch.maximum(p, 1 - p) >= threshold).float()
            target = (p > 0.5).float()
        masks = (
            self.crop_masks(cast("tuple[int, int]", tuple(idx.shape)), xa.shape[2], crop, gen)
            if crop
            else (None,) * 2
        )
        logits = self._returns(xa, masks[0]) - self._returns(xb, masks[1])
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return (loss * confident).mean(1)

    def _check_noise(self, batch: PreferenceBatch, n: int) -> np.ndarray | None:
        """``batch.noise`` checked: None, or ``n`` values in [0, 1)."""
        if batch.noise is None:
            return None
        noise = np.asarray(batch.noise, dtype=np.float32)
        if noise.shape != (n,) or not ((noise >= 0) & (noise < 1)).all():
            raise ValueError(f"batch.noise: expected {n} values in [0, 1), got {batch.noise!r}")
        return noise

    def _check_temperature(self, batch: PreferenceBatch, n: int) -> np.ndarray | None:
        """``batch.temperature`` checked: None, or ``n`` values in (0, 1]."""
        if batch.temperature is None:
            return None
        t = np.asarray(batch.temperature, dtype=np.float32)
        if t.shape != (n,) or not ((t > 0) & (t <= 1)).all():
            raise ValueError(
                f"batch.temperature: expected {n} values in (0, 1], got {batch.temperature!r}"
            )
        return t

    def _pair_loss(
        self, logits: torch.Tensor, y: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        cfg = self.config
        y = y * (1 - cfg.label_smoothing) + cfg.label_smoothing / 2
        if noise is not None:
            # Each label's own noise (its annotator's calibrated mistake rate, issue 18): the
            # same mixture as label_noise, per pair. log(0) = -inf leaves a noiseless pair's
            # loss the plain Bradley-Terry one (logaddexp(x, -inf) = x).
            keep, floor = torch.log1p(-noise), torch.log(noise / 2)
            log_p = torch.logaddexp(keep + F.logsigmoid(logits), floor)
            log_q = torch.logaddexp(keep + F.logsigmoid(-logits), floor)
            return -(y * log_p + (1 - y) * log_q)
        if cfg.label_noise == 0:
            return F.binary_cross_entropy_with_logits(logits, y, reduction="none")
        # log P and log(1 - P) of the noisy link, in log space so saturation stays finite.
        log_keep, log_floor = math.log1p(-cfg.label_noise), math.log(cfg.label_noise / 2)
        log_p = torch.logaddexp(log_keep + F.logsigmoid(logits), torch.tensor(log_floor))
        log_q = torch.logaddexp(log_keep + F.logsigmoid(-logits), torch.tensor(log_floor))
        return -(y * log_p + (1 - y) * log_q)

    def train(
        self,
        batch: PreferenceBatch,
        epochs: int | None = None,
        rng: np.random.Generator | int | None = None,
        stop_accuracy: float | None = None,
        *,
        crop: int = 0,
        unlabeled: PreferenceBatch | None = None,
        pseudo_threshold: float = 0.95,
        pseudo_weight: float = 1.0,
    ) -> dict[str, float]:
        """Fits every member to the labelled pairs (continuing from the current weights).

        PEBBLE refits on all labels collected so far after each round of queries; pass the
        whole label set each time. The input normalizer is first set to this batch's inputs
        (not accumulated: a refit on the whole label set would count old pairs again, and
        the statistics would lean toward the first rounds' states).

        Args:
            batch: the labelled pairs; pairs with weight 0 are left out.
            epochs: passes over each member's pairs (default ``config.epochs``).
            rng: seed or generator for the bootstrap resamples and minibatch order;
                default: the model's own generator, seeded by ``config.seed``.
            stop_accuracy: stop before ``epochs`` once an epoch's mean training accuracy
                (over members and minibatches, as they were trained) reaches this, as
                B-Pref's ``train_reward`` does at 0.97: refits in a PEBBLE loop then cost
                a few epochs instead of all of them. None: always run ``epochs``.
            crop: temporal cropping (SURF, QPA's data augmentation): every minibatch
                compares random windows of ``L - 2 * crop`` to ``L`` steps of each pair
                (`crop_masks`), a new draw each time; 0: whole segments.
            unlabeled: SURF's unlabelled pairs (labels ignored): each member pseudo-labels
                the ones it predicts with confidence >= ``pseudo_threshold`` and adds their
                loss, weighted by ``pseudo_weight``, drawing as many per minibatch as
                labelled pairs. None: labelled pairs only.

        Returns:
            Metrics by name, for logging: ``pref_model/loss`` and ``pref_model/accuracy``
            (means over members), per member ``pref_model/member<k>/loss`` and
            ``.../accuracy`` on the pairs it trained on (accuracy over decisive labels
            only; NaN when all are "equal"), ``pref_model/pairs`` and
            ``pref_model/epochs`` (epochs run).

        Raises:
            ValueError: on a malformed batch, or no pair with a positive weight.
            NonFiniteRewardError: if the loss becomes NaN or inf.
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
        gen = self._rng if rng is None else np.random.default_rng(rng)  # a Generator passes through
        xa, xb, label, weight = self._check_batch(batch)
        if isinstance(crop, bool) or not isinstance(crop, int) or not 0 <= 2 * crop < xa.shape[1]:
            # The same rule as the config's pebble.crop: a window keeps at least one step.
            raise ValueError(
                f"crop must be an int in [0, {xa.shape[1]} / 2) for {xa.shape[1]}-step "
                f"segments, got {crop!r}"
            )
        if not 0.5 <= pseudo_threshold <= 1 or pseudo_weight < 0:
            raise ValueError(
                f"pseudo_threshold must be in [0.5, 1] and pseudo_weight >= 0, got "
                f"{pseudo_threshold!r} and {pseudo_weight!r}"
            )
        if unlabeled is not None:
            ua, ub, _, _ = self._check_batch(unlabeled)
            if ua.shape[1] != xa.shape[1]:
                raise ValueError(
                    f"unlabeled: segments of {ua.shape[1]} steps, labelled ones {xa.shape[1]}"
                )
            ua_t, ub_t = torch.from_numpy(ua), torch.from_numpy(ub)
        noise = self._check_noise(batch, len(label))
        live = np.flatnonzero(weight > 0)
        if live.size == 0:
            raise ValueError("train: the batch has no pair with a positive weight")
        self._fit_normalizer(np.concatenate([xa[live], xb[live]]))
        xa_t, xb_t = torch.from_numpy(xa), torch.from_numpy(xb)
        y_t, w_t = torch.from_numpy(label), torch.from_numpy(weight)
        n_t = None if noise is None else torch.from_numpy(noise)
        temperature = self._check_temperature(batch, len(label))
        t_t = None if temperature is None else torch.from_numpy(temperature)

        e, n = cfg.ensemble_size, live.size
        # Bootstrap (Christiano et al. 2017): each member fits |D| pairs drawn with replacement,
        # so the members disagree where the labels leave the reward undetermined.
        if cfg.bootstrap:
            own = live[gen.integers(0, n, size=(e, n))]
        else:
            own = np.tile(live, (e, 1))
        self._net.train()
        ran = 0
        for _ in range(epochs):
            ran += 1
            order = torch.from_numpy(gen.permuted(own, axis=1))
            epoch_acc = []
            for start in range(0, n, cfg.batch_size):
                idx = order[:, start : start + cfg.batch_size]
                masks = (
                    self.crop_masks(
                        cast("tuple[int, int]", tuple(idx.shape)), xa.shape[1], crop, gen
                    )
                    if crop
                    else None
                )
                member_loss, member_acc = self._member_losses(
                    xa_t, xb_t, y_t, w_t, idx, masks, noise=n_t, temperature=t_t
                )
                epoch_acc.append(member_acc)
                if unlabeled is not None and pseudo_weight > 0:
                    u_idx = torch.from_numpy(gen.integers(0, len(ua), size=tuple(idx.shape)))
                    pseudo = self._pseudo_loss(ua_t, ub_t, u_idx, pseudo_threshold, crop, gen)
                    member_loss = member_loss + pseudo_weight * pseudo
                loss = member_loss.sum()
                if not torch.isfinite(loss):
                    raise NonFiniteRewardError(
                        f"reward model {self.name!r}: training loss became {loss.item()} "
                        f"(try a smaller lr, currently {cfg.lr})"
                    )
                self._opt.zero_grad(set_to_none=True)
                loss.backward()
                self._opt.step()
            if stop_accuracy is not None:
                acc = torch.stack(epoch_acc).nanmean()
                if not torch.isnan(acc) and acc.item() >= stop_accuracy:
                    break
        self._net.eval()
        with torch.no_grad():
            losses, accs = self._member_losses(
                xa_t, xb_t, y_t, w_t, torch.from_numpy(own), noise=n_t, temperature=t_t
            )
        metrics = {"pref_model/pairs": float(n), "pref_model/epochs": float(ran)}
        for k in range(e):
            metrics[f"pref_model/member{k}/loss"] = float(losses[k])
            metrics[f"pref_model/member{k}/accuracy"] = float(accs[k])
        metrics["pref_model/loss"] = float(losses.mean())
        metrics["pref_model/accuracy"] = float(accs.mean())
        logger.info("reward model %s trained: %s", self.name, metrics)
        return metrics

    def _member_losses(
        self,
        xa: torch.Tensor,
        xb: torch.Tensor,
        y: torch.Tensor,
        w: torch.Tensor,
        idx: torch.Tensor,
        masks: tuple[torch.Tensor, torch.Tensor] | None = None,
        noise: torch.Tensor | None = None,
        temperature: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted mean loss and accuracy per member over pairs ``idx (E, M)``."""
        ma, mb = masks if masks is not None else (None, None)
        logits = self._returns(xa[idx], ma) - self._returns(xb[idx], mb)
        yi, wi = y[idx], w[idx]
        # Each label's annotator answers as B-Pref's stochastic teacher, sigmoid(beta * gap):
        # their rationality scales the logit of their own labels (issue 18). A low-beta
        # person's answer then moves the reward little, and near a tie almost not at all.
        scaled = logits if temperature is None else logits * temperature[idx]
        pair = self._pair_loss(scaled, yi, None if noise is None else noise[idx])
        loss = (pair * wi).sum(1) / wi.sum(1).clamp_min(1e-12)
        decisive = ((yi != 0.5) & (wi > 0)).float()
        right = ((logits > 0) == (yi > 0.5)).float() * decisive
        acc = right.sum(1) / decisive.sum(1)  # NaN for a member with only "equal" pairs
        return loss, acc.detach()

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def _eval(self, x: np.ndarray) -> np.ndarray:
        """``x (N, in)`` -> ``(E, N)`` member rewards, refusing non-finite outputs."""
        e = self.config.ensemble_size
        self._net.eval()
        out = np.empty((e, len(x)), np.float32)
        rows = _CHUNK_FRAMES if self.config.input == "frames" else _CHUNK_ROWS
        for s in range(0, len(x), rows):
            chunk = torch.from_numpy(x[s : s + rows])
            out[:, s : s + len(chunk)] = self._net(chunk.expand(e, -1, -1)).numpy()
        bad = ~np.isfinite(out)
        if bad.any():
            k, i = (int(v[0]) for v in np.nonzero(bad))
            raise NonFiniteRewardError(
                f"reward model {self.name!r}: member {k} gave a non-finite reward "
                f"({out[k, i]}) for input row {i}; its weights or normalizer are corrupt"
            )
        return out

    def reward_members(self, obs: Any, act: Any = None) -> np.ndarray:
        """Per-member rewards of ``N`` steps: ``obs (N, D)``, ``act (N, A)`` -> ``(E, N)``."""
        return self._eval(self._inputs(obs, act, 1, ""))

    def reward(self, obs: Any, act: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and spread (std over members) of the reward of ``N`` steps.

        Args:
            obs: ``(N, D)`` observations.
            act: ``(N, A)`` actions (ignored, and may be None, for a state-only model).

        Returns:
            ``(mean, std)``, float32 ``(N,)`` each.

        Raises:
            ValueError: wrong shapes or non-finite inputs.
            NonFiniteRewardError: the model produced NaN or inf.
        """
        r = self.reward_members(obs, act)
        return r.mean(0), r.std(0)

    def _member_preferences(self, batch: PreferenceBatch) -> np.ndarray:
        xa, xb, _, _ = self._check_batch(batch)
        b, length, d = xa.shape
        ra = self._eval(xa.reshape(-1, d)).reshape(-1, b, length).sum(-1, dtype=np.float64)
        rb = self._eval(xb.reshape(-1, d)).reshape(-1, b, length).sum(-1, dtype=np.float64)
        # The plain Bradley-Terry probability: label_noise models the teacher, not the reward.
        # sigmoid(x) = (1 + tanh(x / 2)) / 2 cannot overflow, unlike 1 / (1 + exp(-x)).
        return 0.5 * (1.0 + np.tanh(0.5 * (ra - rb)))

    def predict_preference(self, batch: PreferenceBatch) -> np.ndarray:
        """Ensemble-mean ``P(A > B)`` for each pair, float64 ``(B,)``."""
        return self._member_preferences(batch).mean(0)

    def disagreement(self, batch: PreferenceBatch) -> np.ndarray:
        """Std over members of ``P(A > B)``, float64 ``(B,)``: PEBBLE's disagreement score."""
        return self._member_preferences(batch).std(0)

    # ------------------------------------------------------------------ export, save, load
    def numpy_head(self) -> dict[str, Any]:
        """The model as NumPy arrays (for the C evaluator's exporter and a NumPy twin).

        Returns:
            ``weights``/``biases``: lists of float32 ``(E, in, out)`` / ``(E, out)`` per layer;
            ``activation``, ``output_activation``; ``input_mean``/``input_std`` (float32
            ``(in,)``; zeros and ones when normalization is off); ``input`` ("state" or
            "state_action": inputs are ``obs`` then ``act``, concatenated).
        """
        net = self._net
        if not isinstance(net, _EnsembleMLP):
            raise ValueError(
                f"model {self.name!r}: a frame (CNN) reward has no head the C evaluator runs; "
                "export state or state_action models"
            )
        return {
            "weights": [w.detach().numpy().copy() for w in net.weights],
            "biases": [b.detach().numpy()[:, 0, :].copy() for b in net.biases],
            "activation": self.config.activation,
            "output_activation": self.config.output_activation,
            "input_mean": net.in_mean.numpy().copy(),
            "input_std": net.in_std.numpy().copy(),
            "input": self.config.input,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the model atomically (temp file, fsync, ``os.replace``); returns the path.

        The file is a ``torch.save`` dict: header (``format``, ``version``, ``name``,
        ``config``, ``obs_dim``, ``act_dim``, normalizer ``count``/``mean``/``var``) and the
        ensemble's ``state_dict``; it loads with ``weights_only=True`` (no pickled code).
        The optimizer state is not saved: a loaded model trains on with a fresh Adam.
        """
        cfg = dataclasses.asdict(self.config)
        cfg["hidden"] = list(cfg["hidden"])
        payload = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "config": cfg,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "norm": {
                "count": float(self._count),
                "mean": torch.from_numpy(self._mean.copy()),
                "var": torch.from_numpy(self._var.copy()),
            },
            "state_dict": {k: v.detach().clone() for k, v in self._net.state_dict().items()},
        }
        return write_model_file(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PreferenceRewardModel:
        """Reads a model written by `save`.

        Raises:
            FileNotFoundError: if there is no such file.
            ModelFormatError: naming the file, if it is corrupt, truncated, not a preference
                reward model, or from another format version.
        """
        path = Path(path)
        obj = read_model_file(path, FORMAT_NAME, FORMAT_VERSION)
        try:
            config = PreferenceRewardConfig(**obj["config"])
            model = cls(obj["obs_dim"], obj["act_dim"], config, name=obj["name"])
            norm = obj["norm"]
            model._count = float(norm["count"])
            model._mean = norm["mean"].numpy().astype(np.float64)
            model._var = norm["var"].numpy().astype(np.float64)
            if model._mean.shape != (model.in_dim,) or model._var.shape != (model.in_dim,):
                raise ValueError(f"normalizer shape {model._mean.shape} != ({model.in_dim},)")
            model._net.load_state_dict(obj["state_dict"])
            model._sync_normalizer()
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise ModelFormatError(f"{path}: inconsistent {FORMAT_NAME} contents: {e}") from e
        return model

    def __repr__(self) -> str:
        c = self.config
        return (
            f"PreferenceRewardModel(name={self.name!r}, obs_dim={self.obs_dim}, "
            f"act_dim={self.act_dim}, input={c.input!r}, ensemble_size={c.ensemble_size}, "
            f"hidden={c.hidden}, trained_inputs={int(self._count)})"
        )
