"""The NumPy twin of the C evaluator: the same maths, the same checks, the same interface.

`NumpyEvaluator` takes a decoded `blob.Blob` and offers the methods of
``robopref.evaluator._evaluator.Evaluator`` (the batch methods fill caller-given output
arrays), so `robopref.evaluator.Evaluator` runs over either. It is the test oracle of the C
kernels and a backend one chooses explicitly (``backend="numpy"``), never a silent fallback.

It computes in float32 where the C code does (normalization, layers, attention pooling,
LayerNorm, the policy's MLP and action map) and in float64 where the C code does (ensemble
mean and spread, the final softmax expectation, shaping, the policy's observation
normalization); only the order of float32 sums differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from robopref.evaluator import heads
from robopref.evaluator.blob import Blob

__all__ = ["NumpyEvaluator"]

_ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda h: np.maximum(h, np.float32(0)),
    "leaky_relu": lambda h: np.where(h > 0, h, h * np.float32(0.01)),
    "tanh": np.tanh,
}
_CODES = {"f": "float32", "d": "float64", "?": "bool"}


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return (
        "("
        + ", ".join("N" if s < 0 else str(s) for s in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def _buffer(
    obj: Any, name: str, code: str, shape: tuple[int, ...], writable: bool = False
) -> np.ndarray:
    """The checks of the C binding's ``hold``: exact format, shape, C-contiguity; a view."""
    want = _fmt_shape(shape)
    try:
        view = memoryview(obj)
    except TypeError:
        raise ValueError(
            f"{name}: expected a C-contiguous {_CODES[code]} array of shape {want}, "
            f"got {type(obj).__name__}"
        ) from None
    if writable and view.readonly:
        raise ValueError(f"{name}: expected a writable {_CODES[code]} array, got a read-only one")
    fmt = view.format[1:] if view.format[:1] in ("@", "=", "<") else view.format
    if fmt != code:
        raise ValueError(f"{name}: expected {_CODES[code]}, got buffer format {view.format!r}")
    got = tuple(view.shape or ())  # None only for a 0-d view, which no head takes
    if view.ndim != len(shape) or any(w >= 0 and g != w for g, w in zip(got, shape)):
        raise ValueError(f"{name}: expected shape {want}, got {_fmt_shape(got)}")
    if not view.c_contiguous:
        raise ValueError(
            f"{name}: must be C-contiguous (numpy.ascontiguousarray makes a copy that is)"
        )
    return np.asarray(view)


def _first_bad(x: np.ndarray) -> tuple[int, int] | None:
    bad = ~np.isfinite(x)
    if not bad.any():
        return None
    row, col = np.unravel_index(int(np.flatnonzero(bad)[0]), x.shape)
    return int(row), int(col)


def _at(row: int | None) -> str:
    return "" if row is None else f" at row {row}"


class NumpyEvaluator:
    """The heads of a decoded blob, evaluated with NumPy (same interface as the C type)."""

    kernel = "numpy"

    def __init__(self, blob: Blob) -> None:
        self._blob = blob
        pref, prm = blob.preference, blob.prm
        self._info: dict[str, Any] = {
            "preference": None,
            "prm": None,
            "gamma": blob.gamma,
            "scale": blob.scale,
            "policy": None,
        }
        if pref is not None:
            sizes = (pref["weights"][0].shape[1], *(w.shape[2] for w in pref["weights"]))
            self._info["preference"] = {
                "input": pref["input"],
                "activation": pref["activation"],
                "output_activation": pref["output_activation"],
                "members": pref["weights"][0].shape[0],
                "sizes": sizes,
                "obs_dim": pref["obs_dim"],
                "act_dim": pref["act_dim"],
            }
        if prm is not None:
            sizes = (prm["weights"][0].shape[0], *(w.shape[1] for w in prm["weights"]))
            self._info["prm"] = {
                "views": tuple(prm["views"]),
                "dim": sizes[0],
                "sizes": sizes,
                "activation": prm["activation"],
                "heads": tuple(k for k in heads.PRM_HEADS if k in prm),
            }
        pol = blob.policy
        if pol is not None:
            self._info["policy"] = {
                "algo": pol["algo"],
                "task": pol["task"],
                "robot": pol["robot"],
                "layout": pol["layout"],
                "obs_dim": pol["obs_dim"],
                "act_dim": pol["act_dim"],
                "sizes": (pol["obs_dim"], *(w.shape[1] for w in pol["weights"])),
                "activation": pol["activation"],
                "output": pol["output"],
                "obs_clip": pol["obs_clip"],
            }

    @property
    def info(self) -> dict[str, Any]:
        """The heads' description, as the C type's ``info``."""
        return {k: dict(v) if isinstance(v, dict) else v for k, v in self._info.items()}

    def _need(self, what: str, method: str) -> dict[str, Any]:
        head = getattr(self._blob, what)
        if head is None:
            kind = {
                "preference": "preference head",
                "prm": "PRM head",
                "gamma": "shaping constants",
                "policy": "policy",
            }
            raise ValueError(f"{method}: the blob has no {kind[what]}")
        return head

    def _need_prm_head(self, name: str, method: str) -> dict[str, Any]:
        prm = self._blob.prm
        if prm is None or name not in prm:
            raise ValueError(
                f"{method}: the blob has no PRM {name} head (export a PRM whose {name} head "
                "was trained)"
            )
        return prm

    # ------------------------------------------------------------------ preference
    def _pref_rows(
        self, s: np.ndarray, a: np.ndarray | None, batch: bool
    ) -> tuple[np.ndarray, ...]:
        h = self._blob.preference
        assert h is not None  # the public method checked it (_need)
        x = s if a is None else np.concatenate([s, a], axis=1)
        bad = _first_bad(x)
        if bad is not None:
            row, col = bad
            where, obs = _at(row if batch else None), h["obs_dim"]
            names = ("states", "actions") if batch else ("state", "action")
            name, col = (names[0], col) if col < obs else (names[1], col - obs)
            raise ValueError(f"{name}: NaN or inf{where}, index {col}")
        with np.errstate(all="ignore"):  # overflow is caught below, as a non-finite output
            mean, spread = self._pref_maths(h, x)
        mean, spread = mean.astype(np.float32), spread.astype(np.float32)
        bad_out = ~(np.isfinite(mean) & np.isfinite(spread))
        if bad_out.any():
            out_row = int(np.flatnonzero(bad_out)[0]) if batch else None
            raise ValueError(
                f"the head gave a non-finite output{_at(out_row)} (an input far outside the range "
                "it was trained on?)"
            )
        return mean, spread

    @staticmethod
    def _pref_maths(h: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (x - h["input_mean"]) / h["input_std"]
        act, last = _ACT[h["activation"]], len(h["weights"]) - 1
        r = []
        for e in range(h["weights"][0].shape[0]):
            z = x
            for i, (w, b) in enumerate(zip(h["weights"], h["biases"])):
                z = z @ w[e] + b[e]
                z = act(z) if i < last else z
            r.append(np.tanh(z[:, 0]) if h["output_activation"] == "tanh" else z[:, 0])
        r64 = np.asarray(r, np.float64)
        mean = r64.mean(0)
        return mean, np.sqrt(((r64 - mean) ** 2).mean(0))

    def _action(self, action: Any, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        h = self._blob.preference
        assert h is not None  # the public method checked it (_need)
        if h["input"] == "state":
            return None  # a state head ignores the action, as the torch model does
        if action is None:
            raise ValueError(f"{name}: this head reads (state, action); the action is missing")
        return _buffer(action, name, "f", shape)

    def reward(self, state: Any, action: Any = None) -> tuple[float, float]:
        """``(mean, spread)`` of the ensemble at one state (and action)."""
        h = self._need("preference", "reward")
        s = _buffer(state, "state", "f", (h["obs_dim"],))
        a = self._action(action, "action", (h["act_dim"],))
        m, sd = self._pref_rows(s[None], None if a is None else a[None], batch=False)
        return float(m[0]), float(sd[0])

    def reward_batch(self, states: Any, actions: Any, means: Any, spreads: Any) -> None:
        """Fills ``means`` and ``spreads`` (float32 ``(N,)``) for ``N`` rows."""
        h = self._need("preference", "reward_batch")
        s = _buffer(states, "states", "f", (-1, h["obs_dim"]))
        n = s.shape[0]
        a = self._action(actions, "actions", (n, h["act_dim"]))
        m_out = _buffer(means, "means", "f", (n,), writable=True)
        sd_out = _buffer(spreads, "spreads", "f", (n,), writable=True)
        m_out[...], sd_out[...] = self._pref_rows(s, a, batch=True)

    # ------------------------------------------------------------------ policy
    @staticmethod
    def _policy_maths(h: dict[str, Any], s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(actions, pre-output)`` of rows ``s``; the second shows a non-finite output."""
        x = (s.astype(np.float64) - h["obs_mean"]) / h["obs_std"]
        if h["obs_clip"] > 0:
            x = np.clip(x, -h["obs_clip"], h["obs_clip"])
        z = x.astype(np.float32)
        act, last = _ACT[h["activation"]], len(h["weights"]) - 1
        for i, (w, b) in enumerate(zip(h["weights"], h["biases"])):
            z = z @ w + b
            z = act(z) if i < last else z
        low, high = h["action_low"], h["action_high"]
        if h["output"] == "tanh":  # SB3's unscale_action after its clip to [-1, 1]
            a = np.clip(np.tanh(z), np.float32(-1), np.float32(1))
            return low + np.float32(0.5) * (a + np.float32(1)) * (high - low), z
        return np.clip(z, low, high), z

    def _policy_rows(self, s: np.ndarray, out: np.ndarray, batch: bool) -> None:
        h = self._blob.policy
        assert h is not None  # the public method checked it (_need)
        bad = _first_bad(s)
        if bad is not None:
            row, col = bad
            name = "states" if batch else "state"
            raise ValueError(f"{name}: NaN or inf{_at(row if batch else None)}, index {col}")
        with np.errstate(all="ignore"):  # overflow is caught below, as a non-finite output
            actions, z = self._policy_maths(h, s)
        bad_out = ~np.isfinite(z).all(1)
        if bad_out.any():
            out_row = int(np.flatnonzero(bad_out)[0]) if batch else None
            raise ValueError(
                f"the head gave a non-finite output{_at(out_row)} (an input far outside the range "
                "it was trained on?)"
            )
        out[...] = actions

    def act(self, state: Any, out: Any) -> None:
        """Fills ``out`` (float32 ``(act_dim,)``) with the policy's action at ``state``."""
        h = self._need("policy", "act")
        s = _buffer(state, "state", "f", (h["obs_dim"],))
        o = _buffer(out, "out", "f", (h["act_dim"],), writable=True)
        self._policy_rows(s[None], o[None], batch=False)

    def act_batch(self, states: Any, out: Any) -> None:
        """Fills ``out`` (float32 ``(N, act_dim)``) with the actions at ``N`` states."""
        h = self._need("policy", "act_batch")
        s = _buffer(states, "states", "f", (-1, h["obs_dim"]))
        o = _buffer(out, "out", "f", (s.shape[0], h["act_dim"]), writable=True)
        self._policy_rows(s, o, batch=True)

    # ------------------------------------------------------------------ PRM
    def _prm_rows(
        self,
        f: np.ndarray,
        mask: np.ndarray | None,
        names: tuple[str, str],
        batch: bool,
        head: str = "progress",
    ) -> np.ndarray:
        """The potential (``head="progress"``), P(success) or preference score of rows."""
        h = self._blob.prm
        assert h is not None  # the public method checked it (_need)
        n, v, d = f.shape
        mask = np.ones((n, v), bool) if mask is None else mask.astype(bool)
        present = mask.any(1)
        if not present.all():
            row = int(np.flatnonzero(~present)[0]) if batch else None
            raise ValueError(f"{names[1]}: no view present{_at(row)}")
        bad = _first_bad(np.where(mask[..., None], f, np.float32(0)).reshape(n, v * d))
        if bad is not None:
            row, col = bad
            where = f"{_at(row if batch else None)}, view {col // d}, index {col % d}"
            raise ValueError(f"{names[0]}: NaN or inf{where}")
        with np.errstate(all="ignore"):  # overflow is caught below, as a non-finite output
            phi = (
                self._prm_maths(h, f, mask)
                if head == "progress"
                else self._prm_head_maths(h, head, f, mask)
            )
        if not np.isfinite(phi).all():
            row = int(np.flatnonzero(~np.isfinite(phi))[0]) if batch else None
            raise ValueError(
                f"the head gave a non-finite output{_at(row)} (an input far outside the range "
                "it was trained on?)"
            )
        return phi

    @staticmethod
    def _fuse(h: dict[str, Any], f: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The fused feature ``z`` (N, D): attention pooling of the present views, LayerNorm."""
        d = f.shape[2]
        # Absent views are left out entirely (their features may be garbage, even NaN).
        hv = np.where(mask[..., None], f + h["view_embed"], np.float32(0))
        score = (hv @ h["attn_query"]) / np.float32(np.sqrt(d))
        score = np.where(mask, score, -np.inf).astype(np.float32)
        e = np.exp(score - score.max(1, keepdims=True))
        att = e / e.sum(1, keepdims=True)
        z = np.einsum("nv,nvd->nd", att, hv).astype(np.float32)
        z = z - z.mean(1, keepdims=True)
        rstd = np.float32(1) / np.sqrt((z * z).mean(1, keepdims=True) + np.float32(h["norm_eps"]))
        return z * rstd * h["norm_weight"] + h["norm_bias"]

    @staticmethod
    def _mlp(z: np.ndarray, weights: list, biases: list, activation: str) -> np.ndarray:
        act, last = _ACT[activation], len(weights) - 1
        for i, (w, b) in enumerate(zip(weights, biases)):
            z = z @ w + b
            z = act(z) if i < last else z
        return z

    @classmethod
    def _prm_maths(cls, h: dict[str, Any], f: np.ndarray, mask: np.ndarray) -> np.ndarray:
        z = cls._mlp(cls._fuse(h, f, mask), h["weights"], h["biases"], h["activation"])
        logits = z.astype(np.float64)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return ((e * h["bin_centers"]).sum(1) / e.sum(1)).astype(np.float32)

    @classmethod
    def _prm_head_maths(
        cls, h: dict[str, Any], name: str, f: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        """P(success) (the sigmoid in float64, as the C code) or the preference score."""
        sub = h[name]
        y = cls._mlp(cls._fuse(h, f, mask), sub["weights"], sub["biases"], h["activation"])[:, 0]
        if not np.isfinite(y).all():
            return y  # reported as a non-finite output, as the C kernels do
        if name == "success":
            return (1.0 / (1.0 + np.exp(-y.astype(np.float64)))).astype(np.float32)
        return y.astype(np.float32)

    def _mask(self, mask: Any, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        return None if mask is None else _buffer(mask, name, "?", shape)

    def potential(self, features: Any, mask: Any = None) -> float:
        """The PRM potential ``Phi`` of one observation's view features ``(V, D)``."""
        h = self._need("prm", "potential")
        shape = h["view_embed"].shape
        f = _buffer(features, "features", "f", shape)
        m = self._mask(mask, "mask", shape[:1])
        return float(
            self._prm_rows(f[None], None if m is None else m[None], ("features", "mask"), False)[0]
        )

    def potential_batch(self, features: Any, mask: Any, out: Any) -> None:
        """Fills ``out`` (float32 ``(N,)``) with the potentials of ``(N, V, D)`` features."""
        h = self._need("prm", "potential_batch")
        f = _buffer(features, "features", "f", (-1, *h["view_embed"].shape))
        m = self._mask(mask, "mask", (f.shape[0], h["view_embed"].shape[0]))
        o = _buffer(out, "out", "f", (f.shape[0],), writable=True)
        o[...] = self._prm_rows(f, m, ("features", "mask"), True)

    def _head_one(self, name: str, method: str, features: Any, mask: Any) -> float:
        h = self._need_prm_head(name, method)
        shape = h["view_embed"].shape
        f = _buffer(features, "features", "f", shape)
        m = self._mask(mask, "mask", shape[:1])
        rows = self._prm_rows(
            f[None], None if m is None else m[None], ("features", "mask"), False, name
        )
        return float(rows[0])

    def _head_batch(self, name: str, method: str, features: Any, mask: Any, out: Any) -> None:
        h = self._need_prm_head(name, method)
        f = _buffer(features, "features", "f", (-1, *h["view_embed"].shape))
        m = self._mask(mask, "mask", (f.shape[0], h["view_embed"].shape[0]))
        o = _buffer(out, "out", "f", (f.shape[0],), writable=True)
        o[...] = self._prm_rows(f, m, ("features", "mask"), True, name)

    def success_probability(self, features: Any, mask: Any = None) -> float:
        """P(success) of one observation's view features ``(V, D)`` (the PRM success head)."""
        return self._head_one("success", "success_probability", features, mask)

    def success_probability_batch(self, features: Any, mask: Any, out: Any) -> None:
        """Fills ``out`` (float32 ``(N,)``) with P(success) of ``(N, V, D)`` features."""
        self._head_batch("success", "success_probability_batch", features, mask, out)

    def preference_score(self, features: Any, mask: Any = None) -> float:
        """The PRM preference head's per-frame score of one observation's features."""
        return self._head_one("preference", "preference_score", features, mask)

    def preference_score_batch(self, features: Any, mask: Any, out: Any) -> None:
        """Fills ``out`` (float32 ``(N,)``) with the preference scores of ``N`` observations."""
        self._head_batch("preference", "preference_score_batch", features, mask, out)

    def _shaped_rows(self, f, g, term, m, gm, batch: bool) -> np.ndarray:
        phi = self._prm_rows(f, m, ("features", "mask"), batch).astype(np.float64)
        nxt = np.zeros(len(phi))
        live = ~term  # a terminal s' is not evaluated: its potential is 0 by definition
        if live.any():
            gm_live = None if gm is None else gm[live]
            names = ("next_features", "next_mask")
            nxt[live] = self._prm_rows(g[live], gm_live, names, batch)
        scale, gamma = self._blob.scale, self._blob.gamma
        assert scale is not None and gamma is not None  # shaped() checked them (_need)
        return scale * (gamma * np.where(term, 0.0, nxt) - phi)

    def shaped(
        self,
        features: Any,
        next_features: Any,
        terminated: Any,
        mask: Any = None,
        next_mask: Any = None,
    ) -> float:
        """``scale * (gamma * Phi(s') * (1 - terminated) - Phi(s))`` for one transition."""
        h = self._need("prm", "shaped")
        self._need("gamma", "shaped")
        shape = h["view_embed"].shape
        f = _buffer(features, "features", "f", shape)
        g = _buffer(next_features, "next_features", "f", shape)
        t = _flag(terminated)
        m = self._mask(mask, "mask", shape[:1])
        gm = self._mask(next_mask, "next_mask", shape[:1])
        m1, gm1 = (None if x is None else x[None] for x in (m, gm))
        return float(self._shaped_rows(f[None], g[None], np.array([t]), m1, gm1, batch=False)[0])

    def shaped_batch(
        self,
        features: Any,
        next_features: Any,
        terminated: Any,
        mask: Any,
        next_mask: Any,
        out: Any,
    ) -> None:
        """Fills ``out`` (float64 ``(N,)``) with the shaping terms of ``N`` transitions."""
        h = self._need("prm", "shaped_batch")
        self._need("gamma", "shaped_batch")
        v, d = h["view_embed"].shape
        f = _buffer(features, "features", "f", (-1, v, d))
        n = f.shape[0]
        g = _buffer(next_features, "next_features", "f", (n, v, d))
        t = _buffer(terminated, "terminated", "?", (n,)).astype(bool)
        m = self._mask(mask, "mask", (n, v))
        gm = self._mask(next_mask, "next_mask", (n, v))
        o = _buffer(out, "out", "d", (n,), writable=True)
        o[...] = self._shaped_rows(f, g, t, m, gm, batch=True)


def _flag(value: Any) -> bool:
    """A terminated flag: a bool, or a number that is exactly 0 or 1 (as the C binding)."""
    if isinstance(value, bool):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if v not in (0.0, 1.0):
        raise ValueError(f"terminated: expected a bool or 0/1, got {value!r}")
    return v == 1.0
