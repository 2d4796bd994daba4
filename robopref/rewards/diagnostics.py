"""Reward-model diagnostics: the EPIC distance between two reward functions.

EPIC (Equivalent-Policy Invariant Comparison; Gleave, Dennis, Legg, Russell & Leike,
"Quantifying Differences in Reward Functions", ICLR 2021) compares rewards directly,
without training a policy on each. It first *canonicalizes* each reward, removing any
potential shaping (Ng et al. 1999), then takes the Pearson distance of the canonical
rewards on a coverage distribution of transitions, which removes positive scaling and
constant offsets. Rewards that differ only by shaping and positive scale (and so share all
optimal policies) are at distance 0; ``r`` and ``-r`` are at distance 1.

The canonically shaped reward (paper, Definition 4.1) is

    C(R)(s, a, s') = R(s, a, s') + E[gamma R(s', A, S') - R(s, A, S') - gamma R(S, A, S')]

with ``S, S'`` drawn independently from a state distribution and ``A`` from an action
distribution. Here the expectations are Monte Carlo means over given samples: the mesh of
``sample_actions`` x ``sample_states`` for ``(A, S')``, and ``sample_states`` again for
``S``. Using the same samples for ``S`` and ``S'`` makes shaping cancel *exactly* (not only
in expectation) for any sample, so only the coverage of the samples is approximate. As in
the paper (and the ``evaluating-rewards`` code), episodes are treated as never ending here.
So a transition into a terminal state shaped with our terminal rule (``F = -Phi(s)``, see
`robopref.rewards.shaping`) is not seen as shaping; compare on non-terminal transitions, or
expect a small non-zero distance from those rows.

Reward functions take batched arrays ``reward_fn(states, actions, next_states) -> rewards``
with a leading batch axis, and return a 1-D array of that length. Everything here is
deterministic given its inputs; `sample_marginals` draws samples from a passed-in seed or
``np.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from robopref.rewards.shaping import check_gamma

__all__ = ["RewardFn", "canonicalize", "epic_distance", "sample_marginals"]

#: ``reward_fn(states, actions, next_states) -> rewards``, all with a leading batch axis.
RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]

#: Default cap on the rows of one reward call while estimating the canonical means.
DEFAULT_CHUNK_ROWS = 65_536


def _fn_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "name", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) and name else repr(fn)


def _as_batch(name: str, value: Any, min_rows: int = 1) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim < 1:
        raise ValueError(f"{name}: expected an array with a leading batch axis, got a scalar")
    if a.shape[0] < min_rows:
        raise ValueError(f"{name}: expected at least {min_rows} rows, got shape {a.shape}")
    return a


def _check_inputs(
    states: Any,
    actions: Any,
    next_states: Any,
    sample_states: Any,
    sample_actions: Any,
) -> tuple[np.ndarray, ...]:
    # Two transitions are the least a Pearson correlation is defined on.
    s = _as_batch("states", states, min_rows=2)
    a = _as_batch("actions", actions, min_rows=2)
    s2 = _as_batch("next_states", next_states, min_rows=2)
    ss = _as_batch("sample_states", sample_states)
    sa = _as_batch("sample_actions", sample_actions)
    if not len(s) == len(a) == len(s2):
        raise ValueError(
            "states, actions and next_states must have the same number of rows, got shapes "
            f"{s.shape}, {a.shape} and {s2.shape}"
        )
    for name, x in (("next_states", s2), ("sample_states", ss)):
        if x.shape[1:] != s.shape[1:]:
            raise ValueError(
                f"{name}: per-row shape {x.shape[1:]} differs from states' {s.shape[1:]}"
            )
    if sa.shape[1:] != a.shape[1:]:
        raise ValueError(
            f"sample_actions: per-row shape {sa.shape[1:]} differs from actions' {a.shape[1:]}"
        )
    return s, a, s2, ss, sa


def _evaluate(reward_fn: RewardFn, s: np.ndarray, a: np.ndarray, s2: np.ndarray) -> np.ndarray:
    n = len(s)
    r = np.asarray(reward_fn(s, a, s2))
    if r.shape != (n,):
        raise ValueError(
            f"reward function {_fn_name(reward_fn)} returned shape {r.shape} for a batch of "
            f"{n}; expected ({n},)"
        )
    if r.dtype.kind not in "biuf":
        raise ValueError(
            f"reward function {_fn_name(reward_fn)} returned dtype {r.dtype}; expected reals"
        )
    r = r.astype(np.float64, copy=False)
    bad = ~np.isfinite(r)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"reward function {_fn_name(reward_fn)} returned a non-finite reward {r[i]!r} "
            f"at row {i} of {n}"
        )
    return r


def _tile_rows(x: np.ndarray, reps: int) -> np.ndarray:
    return np.tile(x, (reps,) + (1,) * (x.ndim - 1))


def _mean_reward_from(
    reward_fn: RewardFn,
    from_states: np.ndarray,
    sample_actions: np.ndarray,
    sample_states: np.ndarray,
    chunk_rows: int,
) -> np.ndarray:
    """``E[R(x, A, S')]`` for each row ``x`` of ``from_states``, over the ``A x S'`` mesh."""
    n_a, n_s = len(sample_actions), len(sample_states)
    mesh = n_a * n_s
    mesh_actions = np.repeat(sample_actions, n_s, axis=0)
    mesh_next = _tile_rows(sample_states, n_a)
    per_call = max(1, chunk_rows // mesh)
    out = np.empty(len(from_states))
    for start in range(0, len(from_states), per_call):
        x = from_states[start : start + per_call]
        k = len(x)
        r = _evaluate(
            reward_fn,
            np.repeat(x, mesh, axis=0),
            _tile_rows(mesh_actions, k),
            _tile_rows(mesh_next, k),
        )
        out[start : start + k] = r.reshape(k, mesh).mean(axis=1)
    return out


def _canonicalize(
    reward_fn: RewardFn,
    s: np.ndarray,
    a: np.ndarray,
    s2: np.ndarray,
    gamma: float,
    ss: np.ndarray,
    sa: np.ndarray,
    chunk_rows: int,
) -> tuple[np.ndarray, float]:
    """Canonical rewards and the magnitude of the terms they were built from."""
    raw = _evaluate(reward_fn, s, a, s2)
    n = len(s)
    # One pass over every state whose mean reward is needed: s, s' and the samples S.
    means = _mean_reward_from(reward_fn, np.concatenate([s, s2, ss]), sa, ss, chunk_rows)
    mean_from_s, mean_from_next, mean_from_samples = means[:n], means[n : 2 * n], means[2 * n :]
    canonical = raw + gamma * mean_from_next - mean_from_s - gamma * mean_from_samples.mean()
    scale = float(max(np.abs(raw).max(), np.abs(means).max()))
    return canonical, scale


def canonicalize(
    reward_fn: RewardFn,
    states: Any,
    actions: Any,
    next_states: Any,
    gamma: float,
    sample_states: Any,
    sample_actions: Any,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> np.ndarray:
    """Canonically shaped reward of Gleave et al. (2021), Definition 4.1, on a batch.

    ``C(R)(s, a, s') = R(s, a, s') + gamma * m(s') - m(s) - gamma * mean_S m(S)``, where
    ``m(x)`` is the mean of ``R(x, A, S')`` over every pair of ``A`` in ``sample_actions``
    and ``S'`` in ``sample_states``, and ``S`` runs over ``sample_states``. For any potential
    ``Phi``, ``C(R + gamma * Phi(s') - Phi(s)) == C(R)`` exactly for the given samples.

    Cost: ``len(sample_actions) * len(sample_states)`` reward evaluations for each of the
    ``2 * len(states) + len(sample_states)`` states, in calls of at most about
    ``chunk_rows`` rows.

    Args:
        reward_fn: ``reward_fn(states, actions, next_states) -> rewards``, batched.
        states: States ``s`` of the transitions, shape ``(n, *state_shape)``, ``n >= 2``.
        actions: Actions ``a``, shape ``(n, *action_shape)``.
        next_states: Next states ``s'``, shape ``(n, *state_shape)``.
        gamma: Discount factor in ``(0, 1]`` (that of the shaping to be removed).
        sample_states: Samples of the state distribution of ``S`` and ``S'``, shape
            ``(m, *state_shape)``.
        sample_actions: Samples of the action distribution of ``A``, shape
            ``(k, *action_shape)``.
        chunk_rows: Rough upper bound on the rows passed to ``reward_fn`` in one call.

    Returns:
        The canonical rewards, a float64 array of shape ``(n,)``.

    Raises:
        ValueError: On mismatched shapes, a bad ``gamma``, or a reward function that returns
            the wrong shape or a non-finite value.
    """
    g = check_gamma(gamma)
    s, a, s2, ss, sa = _check_inputs(states, actions, next_states, sample_states, sample_actions)
    return _canonicalize(reward_fn, s, a, s2, g, ss, sa, int(chunk_rows))[0]


def _pearson_distance(
    name_1: str, c1: np.ndarray, name_2: str, c2: np.ndarray, scales: tuple[float, float]
) -> float:
    centred = []
    for name, c, scale in ((name_1, c1, scales[0]), (name_2, c2, scales[1])):
        d = c - c.mean()
        # Relative to the magnitude of the terms C was built from: rounding leaves a
        # ~1e-16-relative ripple in the canonical form of a constant or a pure shaping.
        if not np.sqrt(np.mean(d * d)) > 1e-9 * scale:
            raise ValueError(
                f"canonical reward of {name} is constant on these transitions, so the Pearson "
                "correlation (and EPIC) is undefined: the reward is constant, or a potential "
                "shaping of a constant (equivalent to 0 for every policy), on this data"
            )
        centred.append(d)
    d1, d2 = centred
    rho = float(np.dot(d1, d2) / math.sqrt(float(np.dot(d1, d1)) * float(np.dot(d2, d2))))
    rho = min(1.0, max(-1.0, rho))
    return math.sqrt((1.0 - rho) / 2.0)


def epic_distance(
    reward_fn_1: RewardFn,
    reward_fn_2: RewardFn,
    states: Any,
    actions: Any,
    next_states: Any,
    gamma: float,
    sample_states: Any,
    sample_actions: Any,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> float:
    """EPIC distance (Gleave et al. 2021) between two reward functions, in ``[0, 1]``.

    ``D = sqrt((1 - rho) / 2)``, where ``rho`` is the Pearson correlation of the two
    canonical rewards (`canonicalize`) over the given transitions, which stand for the
    coverage distribution. 0 means equivalent up to potential shaping and positive scaling
    (same optimal policies); 1 means opposite (``r`` vs ``-r``); unrelated rewards land
    near ``sqrt(1/2)``.

    Args:
        reward_fn_1: First reward, ``reward_fn(states, actions, next_states) -> rewards``.
        reward_fn_2: Second reward, same signature.
        states: States ``s`` of the coverage transitions, ``(n, *state_shape)``, ``n >= 2``.
        actions: Actions ``a``, ``(n, *action_shape)``.
        next_states: Next states ``s'``, ``(n, *state_shape)``.
        gamma: Discount factor in ``(0, 1]``.
        sample_states: Samples of the state distribution for the canonical means.
        sample_actions: Samples of the action distribution for the canonical means.
        chunk_rows: Rough upper bound on the rows passed to a reward function in one call.

    Returns:
        The distance, a float in ``[0, 1]``.

    Raises:
        ValueError: On mismatched shapes, a bad ``gamma``, a reward function that returns
            the wrong shape or a non-finite value, or a canonical reward that is constant
            on the transitions (the Pearson correlation is then undefined).
    """
    g = check_gamma(gamma)
    s, a, s2, ss, sa = _check_inputs(states, actions, next_states, sample_states, sample_actions)
    c1, scale_1 = _canonicalize(reward_fn_1, s, a, s2, g, ss, sa, int(chunk_rows))
    c2, scale_2 = _canonicalize(reward_fn_2, s, a, s2, g, ss, sa, int(chunk_rows))
    return _pearson_distance(
        f"reward_fn_1 ({_fn_name(reward_fn_1)})",
        c1,
        f"reward_fn_2 ({_fn_name(reward_fn_2)})",
        c2,
        (scale_1, scale_2),
    )


def sample_marginals(
    states: Any,
    actions: Any,
    next_states: Any,
    n_states: int,
    n_actions: int,
    rng: np.random.Generator | int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``sample_states`` and ``sample_actions`` from the marginals of a transition batch.

    States come from the pooled ``states`` and ``next_states`` (the visitation
    distribution), actions from ``actions``, independently of each other, as EPIC's
    canonicalization assumes. Rows are drawn without replacement when there are enough,
    with replacement otherwise.

    Args:
        states: States of the transitions, ``(n, *state_shape)``.
        actions: Actions, ``(n, *action_shape)``.
        next_states: Next states, ``(n, *state_shape)``.
        n_states: Number of state samples, at least 1.
        n_actions: Number of action samples, at least 1.
        rng: A ``np.random.Generator`` or an integer seed (never global randomness).

    Returns:
        ``(sample_states, sample_actions)``.

    Raises:
        ValueError: On bad shapes or sample counts.
        TypeError: If ``rng`` is neither a Generator nor an integer seed.
    """
    if isinstance(rng, bool) or not isinstance(rng, np.random.Generator | int | np.integer):
        raise TypeError(f"rng must be a np.random.Generator or an integer seed, got {rng!r}")
    gen = np.random.default_rng(rng)
    for name, n in (("n_states", n_states), ("n_actions", n_actions)):
        if int(n) < 1:
            raise ValueError(f"{name} must be at least 1, got {n!r}")
    s = _as_batch("states", states)
    a = _as_batch("actions", actions)
    s2 = _as_batch("next_states", next_states)
    if not len(s) == len(a) == len(s2) or s.shape[1:] != s2.shape[1:]:
        raise ValueError(
            "states, actions and next_states must have the same number of rows and states "
            f"the same per-row shape as next_states, got {s.shape}, {a.shape} and {s2.shape}"
        )
    pool = np.concatenate([s, s2])
    i_s = gen.choice(len(pool), size=int(n_states), replace=int(n_states) > len(pool))
    i_a = gen.choice(len(a), size=int(n_actions), replace=int(n_actions) > len(a))
    return pool[i_s], a[i_a]
