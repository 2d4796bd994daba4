"""The exported heads as NumPy dicts: their checks, limits, and random heads for tests.

Two heads and the shaping constants travel in an evaluator blob (DESIGN.md contract 7):

* the **preference** ensemble head, exactly `PreferenceRewardModel.numpy_head()`: lists
  ``weights`` (float32 ``(E, in, out)``) and ``biases`` (``(E, out)``), ``activation``,
  ``output_activation``, ``input_mean``/``input_std`` (``(in,)``) and ``input``; for a
  ``"state_action"`` head also ``obs_dim`` (where the state ends in the input row);
* the **PRM** head over per-view encoder features: ``views``, ``view_embed`` ``(V, D)``,
  ``attn_query``, ``norm_weight``, ``norm_bias`` ``(D,)``, ``norm_eps``, ``weights``
  (``(in, out)`` each), ``biases`` (``(out,)``), ``activation`` and ``bin_centers`` ``(K,)``;
  optionally the PRM's other heads on the same fused feature (issue 14), each a dict of
  ``weights`` and ``biases`` of an MLP from ``D`` to 1 with the PRM's hidden ``activation``:
  ``"success"`` (P(success) = sigmoid of its output) and ``"preference"`` (the per-frame
  preference score, its output as is); `PRM_HEADS`;
* the **shaping** constants ``gamma`` and ``scale``;
* a **policy**: the deterministic actor of a state-based run (``robopref export --policy``,
  `robopref.rl.export_policy`): ``algo``, ``task``, ``robot`` (the kinematic model the
  state's joints belong to; "" for none), ``layout`` (the state's fields, from
  `sim.state.state_layout`), the observation preprocessing ``obs_mean``/``obs_std`` (float64
  ``(obs_dim,)``: ``x = clip((s - mean) / std, +-obs_clip)``, no clip where ``obs_clip`` is
  0), an MLP (``weights`` ``(in, out)``, ``biases``, hidden ``activation``), and the action
  map ``output``: ``"tanh"`` (SAC, rlpd: ``low + (tanh(y) + 1) / 2 * (high - low)``, SB3's
  ``unscale_action``) or ``"clip"`` (PPO: the Gaussian's mean clipped to ``[low, high]``),
  with ``action_low``/``action_high`` ``(act_dim,)``.

The limits below are part of the format: the C evaluator keeps its per-call scratch on the
stack (no allocation per call, and thread-safe), so no layer may be wider than `MAX_DIM`.

**Overflow rule.** The heads compute in float32, and whether a float32 sum of terms of
mixed sign overflows depends on the order of its terms, which differs between the C
kernels (AVX2, generic) and NumPy. A head whose sums can reach float32's range therefore
gives a number on one backend and "non-finite output" on another (issue 15: a PRM weight of
2e38). So a head is refused (by the writer and by both readers, the C parser included) when
the worst case of any of its sums, by interval arithmetic on unit-scale inputs (normalized
state and action, or view features, of magnitude <= 1), exceeds `MAX_BOUND` = 2^100:

* preference member: each layer's ``|b| + |W|^T u`` (``u`` = 1 at the input; tanh caps at 1);
* PRM attention: each view's score sum ``|q| . (1 + |e_v|)``, the LayerNorm mean
  ``sum_d max_v (1 + |e_vd|)`` and variance ``sum_d (M_d + max M)^2``;
* PRM MLP (and its success and preference MLPs): as a member, from the LayerNorm output,
  which is bounded by ``sqrt(D) |norm_weight| + |norm_bias|`` whatever the features are;
* policy MLP: as a member, from its normalized input (``u`` = 1, or ``obs_clip`` where that
  is set and larger).

The PRM MLP then never overflows, on any input; elsewhere every bound grows at most linearly
with the input scale, so no sum can overflow on inputs up to 2^27 times unit scale, where
the backends agree. A trained head's bounds are many orders of magnitude below 2^100.
Only NumPy is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ACTIONS",
    "ACTIVATIONS",
    "INPUTS",
    "MAX_DIM",
    "OUTPUT_ACTIVATIONS",
    "POLICY_ALGOS",
    "POLICY_VERSION",
    "PRM_HEADS",
    "PRM_HEAD_VERSION",
    "check_overflow",
    "check_policy_head",
    "check_preference_head",
    "check_prm_head",
    "check_shaping",
    "random_policy_head",
    "random_preference_head",
    "random_prm_head",
]

#: Hidden-layer nonlinearities; the index is the code stored in a blob.
ACTIVATIONS = ("leaky_relu", "relu", "tanh")
#: Output nonlinearities of a preference member; the index is the stored code.
OUTPUT_ACTIVATIONS = ("none", "tanh")
#: What a preference member reads; the index is the stored code.
INPUTS = ("state", "state_action")
#: The learners a policy head comes from (informational; the maths is in the other fields).
POLICY_ALGOS = ("sac", "ppo", "rlpd")
#: How a policy's last layer becomes the action; the index is the stored code.
ACTIONS = ("tanh", "clip")
#: Version of the policy section's payload, stored in it: a reader refuses another.
POLICY_VERSION = 1
#: The PRM's optional heads besides progress (`robopref.rewards.prm.HEADS`), in blob order.
PRM_HEADS = ("success", "preference")
#: Version of a PRM success or preference section's payload, stored in it.
PRM_HEAD_VERSION = 1

MAX_DIM = 4096  # widest input, hidden, output or feature vector (C stack scratch)
MAX_LAYERS = 16
MAX_MEMBERS = 64
MAX_VIEWS = 64
MAX_NAME_BYTES = 255
MAX_TEXT_BYTES = 1024  # a policy's task, robot and layout strings
#: Largest worst-case magnitude of a head's float32 sums on unit-scale inputs (module doc).
MAX_BOUND = 2.0**100
_OVERFLOW = (
    "can overflow float32 (worst case over 2^100 on unit-scale inputs: a diverged or corrupt head?)"
)


def _choice(where: str, value: Any, valid: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"{where}: unknown {value!r}; valid: {tuple(valid)}")
    return value


def _array(
    where: str, value: Any, shape: tuple[int, ...] | None = None, dtype: type = np.float32
) -> np.ndarray:
    """A float32 (or ``dtype``) C-contiguous copy of ``value``, finite, with ``shape`` if given."""
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{where}: expected a real array, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=dtype)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{where}: expected shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: contains NaN or inf")
    return a


def _dim(where: str, value: Any, low: int = 1, high: int = MAX_DIM) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not low <= value <= high
    ):
        raise ValueError(f"{where}: expected an int in [{low}, {high}], got {value!r}")
    return int(value)


def _layers(where: str, weights: Any, biases: Any, lead: tuple[int, ...]) -> list[int]:
    """Checks per-layer shapes ``lead + (in, out)`` / ``lead + (out,)``; returns the sizes."""
    if not isinstance(weights, list | tuple) or not isinstance(biases, list | tuple):
        raise ValueError(f"{where}: weights and biases must be lists of arrays")
    if not 1 <= len(weights) <= MAX_LAYERS or len(biases) != len(weights):
        raise ValueError(
            f"{where}: expected 1 to {MAX_LAYERS} layers with one bias each, got "
            f"{len(weights)} weights and {len(biases)} biases"
        )
    sizes: list[int] = []
    for i, w in enumerate(weights):
        shape = np.shape(w)
        if len(shape) != len(lead) + 2 or tuple(shape[: len(lead)]) != lead:
            raise ValueError(f"{where}: weights[{i}] has shape {shape}, expected {lead}+(in, out)")
        fan_in, fan_out = (_dim(f"{where}: weights[{i}] size", s) for s in shape[-2:])
        if sizes and fan_in != sizes[-1]:
            raise ValueError(
                f"{where}: weights[{i}] takes {fan_in} inputs, layer {i - 1} gives {sizes[-1]}"
            )
        sizes = sizes or [fan_in]
        sizes.append(fan_out)
    return sizes


def _check_bound(where: str, bound: np.ndarray | float) -> None:
    if not float(np.max(bound)) <= MAX_BOUND:
        raise ValueError(f"{where} {_OVERFLOW}")


def _check_mlp_bounds(
    where: str, weights: list[np.ndarray], biases: list[np.ndarray], act: str, u: np.ndarray
) -> None:
    """The overflow rule over one MLP whose input magnitudes are at most ``u``."""
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases)):
        u = np.abs(b.astype(np.float64)) + np.abs(w.astype(np.float64)).T @ u
        _check_bound(f"{where}: layer {i}", u)
        if act == "tanh" and i < last:
            u = np.minimum(u, 1.0)


def check_overflow(head: dict[str, Any], kind: str) -> None:
    """Applies the overflow rule (module doc) to a checked ``"preference"``, ``"prm"`` or
    ``"policy"`` head.

    Raises:
        ValueError: naming the head and the part whose sums could overflow.
    """
    if kind == "policy":
        u = np.full(head["weights"][0].shape[0], max(1.0, head["obs_clip"]))
        _check_mlp_bounds("policy head", head["weights"], head["biases"], head["activation"], u)
        return
    if kind == "preference":
        for e in range(head["weights"][0].shape[0]):
            _check_mlp_bounds(
                f"preference head: member {e}",
                [w[e] for w in head["weights"]],
                [b[e] for b in head["biases"]],
                head["activation"],
                np.ones(head["weights"][0].shape[1]),
            )
        return
    embed = 1.0 + np.abs(head["view_embed"].astype(np.float64))  # |f + e| on unit-scale f
    _check_bound(
        "PRM head: attention scores", embed @ np.abs(head["attn_query"].astype(np.float64))
    )
    m = embed.max(0)  # the pooled features are a convex combination of the views'
    _check_bound("PRM head: LayerNorm mean", m.sum())
    _check_bound("PRM head: LayerNorm variance", ((m + m.max()) ** 2).sum())
    dim = len(head["attn_query"])
    u = math.sqrt(dim) * np.abs(head["norm_weight"].astype(np.float64)) + np.abs(
        head["norm_bias"].astype(np.float64)
    )
    _check_mlp_bounds("PRM head", head["weights"], head["biases"], head["activation"], u)
    for name in PRM_HEADS:
        if name in head:
            sub = head[name]
            _check_mlp_bounds(
                f"PRM {name} head", sub["weights"], sub["biases"], head["activation"], u
            )


def check_preference_head(head: dict[str, Any], obs_dim: int | None = None) -> dict[str, Any]:
    """Validates a preference ensemble head; returns a normalized copy (float32 arrays).

    Args:
        head: a `PreferenceRewardModel.numpy_head()` dict.
        obs_dim: where the state ends in a ``"state_action"`` input row (taken from
            ``head["obs_dim"]`` when not given); ignored for ``"state"`` heads.

    Raises:
        ValueError: naming the field, the bad value and what is allowed.
    """
    if not isinstance(head, dict):
        raise ValueError(f"preference head: expected a dict, got {type(head).__name__}")
    try:
        kind = _choice("preference head: input", head["input"], INPUTS)
        act = _choice("preference head: activation", head["activation"], ACTIVATIONS)
        out_act = _choice(
            "preference head: output_activation", head["output_activation"], OUTPUT_ACTIVATIONS
        )
        weights, biases = head["weights"], head["biases"]
        members = _dim("preference head: members", np.shape(weights[0])[0], high=MAX_MEMBERS)
        sizes = _layers("preference head", weights, biases, (members,))
        mean, std = head["input_mean"], head["input_std"]
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"preference head: missing or malformed field ({e!r})") from e
    if sizes[-1] != 1:
        raise ValueError(f"preference head: the last layer must have 1 output, got {sizes[-1]}")
    in_dim = sizes[0]
    obs_dim = head.get("obs_dim") if obs_dim is None else obs_dim
    if kind == "state":
        obs_dim = in_dim
    elif obs_dim is None:
        raise ValueError("preference head: a 'state_action' head needs obs_dim (state size)")
    obs_dim = _dim("preference head: obs_dim", obs_dim, high=in_dim - (kind == "state_action"))
    std = _array("preference head: input_std", std, (in_dim,))
    if not (std > 0).all():
        raise ValueError("preference head: input_std must be > 0 everywhere")
    checked = {
        "weights": [
            _array(f"preference head: weights[{i}]", w, (members, a, b))
            for i, (w, a, b) in enumerate(zip(weights, sizes[:-1], sizes[1:]))
        ],
        "biases": [
            _array(f"preference head: biases[{i}]", b, (members, n))
            for i, (b, n) in enumerate(zip(biases, sizes[1:]))
        ],
        "activation": act,
        "output_activation": out_act,
        "input_mean": _array("preference head: input_mean", mean, (in_dim,)),
        "input_std": std,
        "input": kind,
        "obs_dim": obs_dim,
        "act_dim": in_dim - obs_dim,
    }
    check_overflow(checked, "preference")
    return checked


def check_prm_head(head: dict[str, Any]) -> dict[str, Any]:
    """Validates a PRM head (see the module docstring); returns a normalized copy.

    Raises:
        ValueError: naming the field, the bad value and what is allowed.
    """
    if not isinstance(head, dict):
        raise ValueError(f"PRM head: expected a dict, got {type(head).__name__}")
    try:
        views = head["views"]
        if isinstance(views, str) or not all(isinstance(v, str) for v in views):
            raise ValueError(f"PRM head: views must be a list of names, got {views!r}")
        views = tuple(views)
        n_views = _dim("PRM head: number of views", len(views), high=MAX_VIEWS)
        for v in views:
            if not 1 <= len(v.encode("utf-8")) <= MAX_NAME_BYTES:
                raise ValueError(f"PRM head: view name {v!r} must be 1 to {MAX_NAME_BYTES} bytes")
        if len(set(views)) != n_views:
            raise ValueError(f"PRM head: view names must be unique, got {views}")
        dim = _dim("PRM head: feature dim", np.shape(head["attn_query"])[0])
        act = _choice("PRM head: activation", head["activation"], ACTIVATIONS)
        sizes = _layers("PRM head", head["weights"], head["biases"], ())
        eps = head["norm_eps"]
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"PRM head: missing or malformed field ({e!r})") from e
    if sizes[0] != dim:
        raise ValueError(f"PRM head: the first layer takes {sizes[0]} inputs, features have {dim}")
    if isinstance(eps, bool) or not isinstance(eps, int | float | np.floating):
        raise ValueError(f"PRM head: norm_eps must be a number, got {eps!r}")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"PRM head: norm_eps must be finite and > 0, got {eps!r}")
    checked = {
        "views": list(views),
        "view_embed": _array("PRM head: view_embed", head["view_embed"], (n_views, dim)),
        "attn_query": _array("PRM head: attn_query", head["attn_query"], (dim,)),
        "norm_weight": _array("PRM head: norm_weight", head["norm_weight"], (dim,)),
        "norm_bias": _array("PRM head: norm_bias", head["norm_bias"], (dim,)),
        "norm_eps": float(eps),
        "weights": [
            _array(f"PRM head: weights[{i}]", w, (a, b))
            for i, (w, a, b) in enumerate(zip(head["weights"], sizes[:-1], sizes[1:]))
        ],
        "biases": [
            _array(f"PRM head: biases[{i}]", b, (n,))
            for i, (b, n) in enumerate(zip(head["biases"], sizes[1:]))
        ],
        "activation": act,
        "bin_centers": _array("PRM head: bin_centers", head["bin_centers"], (sizes[-1],)),
    }
    for name in PRM_HEADS:
        if head.get(name) is not None:
            checked[name] = _check_prm_subhead(name, head[name], dim)
    check_overflow(checked, "prm")
    return checked


def _check_prm_subhead(name: str, sub: Any, dim: int) -> dict[str, Any]:
    """One of the PRM's `PRM_HEADS`: an MLP from the fused feature (``dim``) to 1 output."""
    where = f"PRM {name} head"
    if not isinstance(sub, dict):
        raise ValueError(
            f"{where}: expected a dict of weights and biases, got {type(sub).__name__}"
        )
    try:
        sizes = _layers(where, sub["weights"], sub["biases"], ())
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"{where}: missing or malformed field ({e!r})") from e
    if sizes[0] != dim:
        raise ValueError(f"{where}: the first layer takes {sizes[0]} inputs, features have {dim}")
    if sizes[-1] != 1:
        raise ValueError(f"{where}: the last layer must have 1 output, got {sizes[-1]}")
    return {
        "weights": [
            _array(f"{where}: weights[{i}]", w, (a, b))
            for i, (w, a, b) in enumerate(zip(sub["weights"], sizes[:-1], sizes[1:]))
        ],
        "biases": [
            _array(f"{where}: biases[{i}]", b, (n,))
            for i, (b, n) in enumerate(zip(sub["biases"], sizes[1:]))
        ],
    }


def _text(where: str, value: Any, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    n = len(value.encode("utf-8"))
    if not (0 if empty else 1) <= n <= MAX_TEXT_BYTES:
        raise ValueError(f"{where}: {n} UTF-8 bytes; allowed: 1 to {MAX_TEXT_BYTES}")
    return value


def check_policy_head(head: dict[str, Any]) -> dict[str, Any]:
    """Validates a policy head (see the module docstring); returns a normalized copy.

    The MLP's arrays become float32 (the kernels' precision), the observation statistics
    float64: the rlpd learner normalizes in float64 before its float32 actor, and parity with
    it needs the same rounding. Adds ``obs_dim`` and ``act_dim``.

    Raises:
        ValueError: naming the field, the bad value and what is allowed.
    """
    if not isinstance(head, dict):
        raise ValueError(f"policy head: expected a dict, got {type(head).__name__}")
    try:
        algo = _choice("policy head: algo", head["algo"], POLICY_ALGOS)
        act = _choice("policy head: activation", head["activation"], ACTIVATIONS)
        output = _choice("policy head: output", head["output"], ACTIONS)
        sizes = _layers("policy head", head["weights"], head["biases"], ())
        texts = {
            k: _text(f"policy head: {k}", head[k], empty=k == "robot")
            for k in ("task", "robot", "layout")
        }
        clip = head["obs_clip"]
        mean, std = head["obs_mean"], head["obs_std"]
        low, high = head["action_low"], head["action_high"]
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"policy head: missing or malformed field ({e!r})") from e
    if isinstance(clip, bool) or not isinstance(clip, int | float | np.integer | np.floating):
        raise ValueError(f"policy head: obs_clip must be a number, got {clip!r}")
    if not (math.isfinite(clip) and clip >= 0):
        raise ValueError(f"policy head: obs_clip must be finite and >= 0 (0: none), got {clip!r}")
    obs_dim, act_dim = sizes[0], sizes[-1]
    std = _array("policy head: obs_std", std, (obs_dim,), np.float64)
    if not (std > 0).all():
        raise ValueError("policy head: obs_std must be > 0 everywhere")
    low = _array("policy head: action_low", low, (act_dim,))
    high = _array("policy head: action_high", high, (act_dim,))
    if not (low < high).all():
        raise ValueError(f"policy head: action_low {low} must be below action_high {high}")
    checked = {
        "algo": algo,
        **texts,
        "obs_mean": _array("policy head: obs_mean", mean, (obs_dim,), np.float64),
        "obs_std": std,
        "obs_clip": float(clip),
        "weights": [
            _array(f"policy head: weights[{i}]", w, (a, b))
            for i, (w, a, b) in enumerate(zip(head["weights"], sizes[:-1], sizes[1:]))
        ],
        "biases": [
            _array(f"policy head: biases[{i}]", b, (n,))
            for i, (b, n) in enumerate(zip(head["biases"], sizes[1:]))
        ],
        "activation": act,
        "output": output,
        "action_low": low,
        "action_high": high,
        "obs_dim": obs_dim,
        "act_dim": act_dim,
    }
    check_overflow(checked, "policy")
    return checked


def check_shaping(gamma: Any, scale: Any = 1.0) -> tuple[float, float]:
    """``(gamma, scale)`` as floats: gamma in (0, 1] (the learner's discount), scale finite.

    The gamma rule is `robopref.rewards.shaping.check_gamma`'s (a test keeps them equal);
    it is restated here because importing that package pulls in gymnasium, which the
    evaluator on a robot should not pay for.
    """
    for name, v in (("gamma", gamma), ("scale", scale)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise ValueError(f"{name} must be a number, got {v!r}")
    g, s = float(gamma), float(scale)
    if not 0.0 < g <= 1.0:
        raise ValueError(f"gamma must be in (0, 1] (the learner's discount), got {gamma!r}")
    if not math.isfinite(s):
        raise ValueError(f"scale must be finite, got {scale!r}")
    return g, s


def random_preference_head(
    rng: np.random.Generator,
    obs_dim: int,
    act_dim: int = 0,
    hidden: Sequence[int] = (256, 256),
    members: int = 3,
    activation: str = "leaky_relu",
    output_activation: str = "tanh",
) -> dict[str, Any]:
    """A random preference head (``nn.Linear``-style init), for tests and benchmarks.

    ``act_dim > 0`` makes a ``"state_action"`` head.
    """
    sizes = (obs_dim + act_dim, *hidden, 1)
    bounds = [1 / math.sqrt(n) for n in sizes[:-1]]
    return check_preference_head(
        {
            "weights": [
                rng.uniform(-b, b, (members, i, o)) for b, i, o in zip(bounds, sizes, sizes[1:])
            ],
            "biases": [rng.uniform(-b, b, (members, o)) for b, o in zip(bounds, sizes[1:])],
            "activation": activation,
            "output_activation": output_activation,
            "input_mean": rng.normal(0, 1, sizes[0]),
            "input_std": rng.uniform(0.5, 2.0, sizes[0]),
            "input": "state_action" if act_dim else "state",
            "obs_dim": obs_dim,
        }
    )


def random_prm_head(
    rng: np.random.Generator,
    views: Sequence[str] = ("front", "side", "wrist"),
    dim: int = 64,
    hidden: Sequence[int] = (256,),
    bins: int = 21,
    activation: str = "relu",
    extra_heads: Sequence[str] = (),
) -> dict[str, Any]:
    """A random PRM head with bin centers evenly spaced over [0, 1] (a progress potential),
    and the `PRM_HEADS` named in ``extra_heads`` (same hidden widths, one output)."""
    sizes = (dim, *hidden, bins)
    bounds = [1 / math.sqrt(n) for n in sizes[:-1]]
    head: dict[str, Any] = {
        "views": list(views),
        "view_embed": rng.normal(0, 0.5, (len(views), dim)),
        "attn_query": rng.normal(0, 1, dim),
        "norm_weight": rng.uniform(0.5, 1.5, dim),
        "norm_bias": rng.normal(0, 0.1, dim),
        "norm_eps": 1e-5,
        "weights": [rng.uniform(-b, b, (i, o)) for b, i, o in zip(bounds, sizes, sizes[1:])],
        "biases": [rng.uniform(-b, b, o) for b, o in zip(bounds, sizes[1:])],
        "activation": activation,
        "bin_centers": np.linspace(0.0, 1.0, bins),
    }
    one = (dim, *hidden, 1)  # drawn after the rest: the progress head is as without them
    for name in extra_heads:
        _choice("random_prm_head: extra_heads", name, PRM_HEADS)
        head[name] = {
            "weights": [rng.uniform(-b, b, (i, o)) for b, i, o in zip(bounds, one, one[1:])],
            "biases": [rng.uniform(-b, b, o) for b, o in zip(bounds, one[1:])],
        }
    return check_prm_head(head)


def random_policy_head(
    rng: np.random.Generator,
    obs_dim: int,
    act_dim: int = 4,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    output: str = "tanh",
    obs_clip: float = 0.0,
    layout: str | None = None,
    task: str = "panda-reach",
    robot: str = "panda",
) -> dict[str, Any]:
    """A random policy head (``nn.Linear``-style init, random observation statistics), for
    tests and benchmarks; ``layout`` defaults to one naming only the size."""
    sizes = (obs_dim, *hidden, act_dim)
    bounds = [1 / math.sqrt(n) for n in sizes[:-1]]
    return check_policy_head(
        {
            "algo": "sac" if output == "tanh" else "ppo",
            "task": task,
            "robot": robot,
            "layout": layout if layout is not None else f"state({obs_dim})",
            "obs_mean": rng.normal(0, 1, obs_dim),
            "obs_std": rng.uniform(0.5, 2.0, obs_dim),
            "obs_clip": obs_clip,
            "weights": [rng.uniform(-b, b, (i, o)) for b, i, o in zip(bounds, sizes, sizes[1:])],
            "biases": [rng.uniform(-b, b, o) for b, o in zip(bounds, sizes[1:])],
            "activation": activation,
            "output": output,
            "action_low": -np.ones(act_dim),
            "action_high": np.ones(act_dim),
        }
    )
