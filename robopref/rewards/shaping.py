"""Policy-invariant potential-based reward shaping (Ng, Harada & Russell, 1999).

A state-only reward model (a PRM or a VLM scorer) enters training only as a *potential*
``Phi(obs) -> float`` through the shaping term

    F(s, s') = gamma * Phi(s') - Phi(s),

added to the task reward (DESIGN.md, contract 4). Ng, Harada & Russell, "Policy invariance
under reward transformations: theory and application to reward shaping" (ICML 1999), prove
that for any ``Phi`` the optimal policies of ``r`` and ``r + F`` coincide: the shaped
action values are ``Q*(s, a) - Phi(s)``, so the ranking of actions in every state is
unchanged. Using the same score directly as a reward carries no such guarantee (an agent
can learn to hover where the score is high instead of finishing the task).

Two episode-boundary rules keep the guarantee in an episodic setting:

* **Termination**: a terminal state has value 0 under every policy, so its potential is
  taken as 0 and the last term is ``F = -Phi(s)``. Otherwise reaching a terminal state with a
  high potential would be a bonus that nothing later pays back, and the optimal policy could
  change (it would, e.g., prefer a failure state that the potential scores highly).
* **Truncation** (a time limit) is *not* termination: the MDP goes on past the cut, the
  learner bootstraps from ``V(s')``, so ``Phi(s')`` is used as usual.

For the reward-hacking study (issue 14) the wrapper can also pay the potential *directly*
(``mode="direct"``: ``scale * Phi(s')`` as the step's reward), the use the theorem does not
cover; it is logged under its own name, ``reward/direct``, never as shaping.

This module holds a pure batch function for relabelling stored transitions
(`shaping_terms`) and a gymnasium wrapper that shapes online (`PotentialShapingWrapper`);
both apply the same rules, and the wrapper is checked against the batch function in tests.
It imports numpy and gymnasium only: no potential model is evaluated at import time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium
import numpy as np

__all__ = [
    "MODES",
    "InfoPotential",
    "NonFinitePotentialError",
    "PotentialShapingWrapper",
    "shaping_terms",
]

#: ``info`` keys the wrapper writes on every step (``"potential"`` also on reset).
INFO_TASK = "reward/task"
INFO_SHAPING = "reward/shaping"
INFO_DIRECT = "reward/direct"
INFO_POTENTIAL = "potential"
#: ``info`` key of the step that ends an episode: the sum of ``Phi(s')`` over its steps.
INFO_POTENTIAL_RETURN = "reward/potential_return"

#: How the potential enters the reward: the shaping difference, or ``Phi(s')`` itself.
MODES = ("difference", "direct")


class InfoPotential:
    """A potential the environment reports itself, ``info[key]`` on reset and every step,
    rather than one computed from the observation: the simulator's privileged ``progress``
    (the ``progress`` reward term). Sim only, so never a deployable reward; it is what a
    perfect PRM would give, the upper bound of PRM shaping on a task.
    """

    def __init__(self, key: str = "progress") -> None:
        self.info_key = key
        self.name = f"info[{key!r}]"

    def __call__(self, obs: Any) -> float:
        raise TypeError(f"{self.name} is read from the env's info, not computed from an obs")


class NonFinitePotentialError(ValueError):
    """A potential was NaN or infinite; shaping with it would silently poison the reward."""


def check_gamma(gamma: Any) -> float:
    """``gamma`` as a float in (0, 1], or a ``ValueError`` saying what was wrong."""
    try:
        g = float(gamma)
    except (TypeError, ValueError) as e:
        raise ValueError(f"gamma must be a number in (0, 1], got {gamma!r}") from e
    # gamma = 0 would make F = -Phi(s), a pure per-state offset with no telescoping; the
    # invariance theorem needs the learner's own discount, which is in (0, 1].
    if not 0.0 < g <= 1.0:
        raise ValueError(f"gamma must be in (0, 1] (the learner's discount), got {gamma!r}")
    return g


def _as_potential_array(name: str, value: Any) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    if a.ndim > 1:
        raise ValueError(f"{name}: expected a scalar or a 1-D array, got shape {a.shape}")
    a = a.astype(np.float64, copy=False)
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        where = "" if a.ndim == 0 else f" at index {i}"
        raise NonFinitePotentialError(
            f"{name}: non-finite potential {a.ravel()[i]!r}{where}; a potential must be "
            "finite everywhere (a NaN here would become a NaN reward)"
        )
    return a


def _as_terminated(value: Any) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim > 1:
        raise ValueError(f"terminated: expected a scalar or a 1-D array, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a
    # Replay buffers often store done flags as 0/1 floats; accept those, refuse anything else
    # (a 0.5 or a NaN flag is a bug upstream, not a "partly terminal" state).
    if a.dtype.kind in "biuf":
        ok = (a == 0) | (a == 1)
        if not np.all(ok):
            i = int(np.flatnonzero(~np.atleast_1d(ok))[0])
            raise ValueError(
                f"terminated: expected booleans or 0/1 values, got {np.atleast_1d(a)[i]!r} "
                f"at index {i}"
            )
        return a.astype(bool)
    raise ValueError(f"terminated: expected a boolean array, got dtype {a.dtype}")


def shaping_terms(phi: Any, next_phi: Any, terminated: Any, gamma: float) -> np.ndarray:
    """Potential-based shaping terms ``F = gamma * Phi(s') - Phi(s)`` for a batch.

    Implements Ng, Harada & Russell (1999) with the episode-boundary rules of DESIGN.md
    (contract 4): where ``terminated`` is true the next state's potential is taken as 0, so
    ``F = -Phi(s)``; a truncated (time-limited) transition is not terminal and must be passed
    with ``terminated=False``, so it uses ``Phi(s')`` as usual.

    Args:
        phi: Potentials ``Phi(s)`` of the states, a scalar or a 1-D array.
        next_phi: Potentials ``Phi(s')`` of the next states, a scalar or a 1-D array. The
            value at a terminal transition is ignored but must still be finite.
        terminated: Whether ``s'`` is terminal, booleans (or 0/1 numbers), scalar or 1-D.
        gamma: The learner's discount factor, in ``(0, 1]``. Policy invariance holds only
            if it equals the discount the learner uses.

    Returns:
        A 1-D float64 array with the broadcast length of the inputs (length 1 if all are
        scalars).

    Raises:
        NonFinitePotentialError: If ``phi`` or ``next_phi`` holds a NaN or infinity (the
            message names the array and the first bad index). It is a `ValueError`.
        ValueError: On a bad ``gamma``, arrays of rank above 1, lengths that do not
            broadcast, or ``terminated`` values other than booleans or 0/1.
    """
    g = check_gamma(gamma)
    p = _as_potential_array("phi", phi)
    p_next = _as_potential_array("next_phi", next_phi)
    done = _as_terminated(terminated)
    try:
        shape = np.broadcast_shapes(p.shape, p_next.shape, done.shape)
    except ValueError as e:
        raise ValueError(
            "phi, next_phi and terminated must have broadcast-compatible lengths, got shapes "
            f"{p.shape}, {p_next.shape} and {done.shape}"
        ) from e
    next_term = np.where(done, 0.0, p_next)
    return np.atleast_1d(np.broadcast_to(g * next_term - p, shape).astype(np.float64))


def _potential_name(potential: Callable[..., Any]) -> str:
    name = getattr(potential, "name", None)
    return name if isinstance(name, str) and name else repr(potential)


class PotentialShapingWrapper(gymnasium.Wrapper):
    """Adds potential-based shaping ``scale * (gamma * Phi(s') - Phi(s))`` to a task reward.

    With ``mode="direct"`` it adds ``scale * Phi(s')`` instead: the potential used as a
    reward, which is *not* policy invariant (the reward-hacking study of issue 14).

    Ng, Harada & Russell (1999) show this leaves the optimal policy of the task reward
    unchanged for any potential ``Phi``, which is why learned state-only reward models
    (PRM, VLM) enter training only this way (DESIGN.md, contract 4). ``scale * F`` is itself
    shaping with potential ``scale * Phi``, so any finite ``scale`` keeps the guarantee.

    Episode boundaries: on ``terminated`` the next potential is taken as 0 (``F = -Phi(s)``);
    on ``truncated`` alone (a time limit) ``Phi(s')`` is used as usual. ``Phi(s0)`` is
    computed afresh at every ``reset``; nothing is carried across episodes.

    Every term is logged by name in the step's ``info``:

    * ``"reward/task"``: the reward of the wrapped env (kept if an inner wrapper already
      logged it, so the innermost task reward wins);
    * ``"reward/shaping"``: the shaping term added, ``scale * F`` (0 in direct mode);
    * ``"reward/direct"``: the direct term added, ``scale * Phi(s')`` (0 in difference
      mode; ``Phi(s')`` as computed, a terminal state is not zeroed: nothing telescopes);
    * ``"potential"``: the potential the model gave the new observation, ``Phi(s')``, as
      computed (also at a terminal state, where ``F`` uses 0 instead). ``reset`` logs
      ``Phi(s0)`` under the same key;
    * ``"reward/potential_return"``, on the step that ends an episode only: the sum of
      ``Phi(s')`` over the episode's steps (the potential's own return, whatever the mode
      and scale), the figure to hold against the task's success.

    The returned reward is ``reward + scale * F`` (``reward + scale * Phi(s')`` in direct
    mode). Observation and action spaces are those
    of the wrapped env.

    Args:
        env: The environment to wrap.
        potential: ``Phi(obs) -> float``. Its ``name`` attribute, if any, is used in errors
            (its ``repr`` otherwise).
        gamma: The learner's discount factor, in ``(0, 1]``. It must match the learner's
            discount for the invariance guarantee to hold.
        scale: Multiplier of the shaping term; any finite number.
        mode: ``"difference"`` (shaping, the default) or ``"direct"``.

    Raises:
        ValueError: On a bad ``gamma``, ``scale`` or ``mode``, or a ``potential`` that is not
            callable.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        potential: Callable[[Any], SupportsFloat],
        gamma: float,
        scale: float = 1.0,
        mode: str = "difference",
    ) -> None:
        super().__init__(env)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self.mode = mode
        if not callable(potential):
            raise ValueError(f"potential must be callable Phi(obs) -> float, got {potential!r}")
        self.potential = potential
        self.gamma = check_gamma(gamma)
        try:
            self.scale = float(scale)
        except (TypeError, ValueError) as e:
            raise ValueError(f"scale must be a finite number, got {scale!r}") from e
        if not math.isfinite(self.scale):
            raise ValueError(f"scale must be a finite number, got {scale!r}")
        # Phi of the current state; None outside an episode, so a step without a reset (or
        # after the episode ended) fails loudly instead of shaping with a stale potential.
        self._phi: float | None = None
        self._phi_sum = 0.0

    def _evaluate(self, obs: Any, info: dict[str, Any]) -> float:
        key = getattr(self.potential, "info_key", None)
        if key is not None and key not in info:
            raise KeyError(
                f"potential {_potential_name(self.potential)}: the env reports no {key!r}"
            )
        value = info[key] if key is not None else self.potential(obs)
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"potential {_potential_name(self.potential)} returned {value!r}, "
                "expected a real number"
            ) from e
        if a.size != 1:
            raise TypeError(
                f"potential {_potential_name(self.potential)} returned an array of shape "
                f"{a.shape}, expected a single number"
            )
        phi = float(a.reshape(()))
        if not math.isfinite(phi):
            raise NonFinitePotentialError(
                f"potential {_potential_name(self.potential)} returned {phi!r} for an "
                "observation; shaping needs a finite potential (a NaN would become a NaN "
                "reward)"
            )
        return phi

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Resets the env and computes ``Phi(s0)`` for the new episode.

        Args:
            seed: Passed to the wrapped env's ``reset``.
            options: Passed to the wrapped env's ``reset``.

        Returns:
            The wrapped env's ``(obs, info)``, with ``info["potential"] = Phi(s0)``.
        """
        self._phi = None
        obs, info = self.env.reset(seed=seed, options=options)
        self._phi = self._evaluate(obs, info)
        self._phi_sum = 0.0
        info = dict(info)
        info[INFO_POTENTIAL] = self._phi
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Steps the env and adds ``scale * (gamma * Phi(s') - Phi(s))`` to its reward
        (``scale * Phi(s')`` in direct mode).

        Args:
            action: Passed to the wrapped env's ``step``.

        Returns:
            ``(obs, reward + term, terminated, truncated, info)`` with the terms logged
            in ``info`` (see the class docstring).

        Raises:
            RuntimeError: If called before ``reset`` or after the episode ended.
            NonFinitePotentialError: If the potential returns NaN or infinity.
        """
        if self._phi is None:
            raise RuntimeError(
                "PotentialShapingWrapper.step() called outside an episode: call reset() "
                "first (and again after terminated or truncated)"
            )
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        for key in (INFO_SHAPING, INFO_DIRECT, INFO_POTENTIAL):
            # Two shaping wrappers would overwrite each other's log; one wrapper with the
            # summed potential is equivalent (shaping is linear in Phi) and logs honestly.
            if key in info:
                raise RuntimeError(
                    f"info already holds {key!r}: another shaping wrapper is stacked inside "
                    "this one; wrap once with the sum of the potentials instead"
                )
        phi_next = self._evaluate(obs, info)
        shaping = direct = 0.0
        if self.mode == "direct":
            direct = self.scale * phi_next
        else:
            # Same rule as shaping_terms: a terminal state has potential 0; truncation is
            # not termination, so Phi(s') stands.
            next_term = 0.0 if terminated else phi_next
            shaping = self.scale * (self.gamma * next_term - self._phi)
        task = float(reward)
        info.setdefault(INFO_TASK, task)
        info[INFO_SHAPING] = shaping
        info[INFO_DIRECT] = direct
        info[INFO_POTENTIAL] = phi_next
        self._phi_sum += phi_next
        if terminated or truncated:
            info[INFO_POTENTIAL_RETURN] = self._phi_sum
        self._phi = None if (terminated or truncated) else phi_next
        return obs, task + shaping + direct, terminated, truncated, info
