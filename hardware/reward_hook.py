"""The bridge's reward hook: any object with ``potential(obs)`` and/or ``reward(obs, action)``.

This is the seam where the C evaluator (``robopref/evaluator``) plugs in: its Python wrapper
only has to offer one of the two methods. A state-only model gives a potential (DESIGN.md
contract 4), a preference model a reward. The bridge logs both per step and records them
with the episode; it never feeds them back into control.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)


@runtime_checkable
class PotentialModel(Protocol):
    def potential(self, obs: dict[str, np.ndarray]) -> float: ...


@runtime_checkable
class RewardModel(Protocol):
    def reward(self, obs: dict[str, np.ndarray], action: np.ndarray) -> float: ...


class RewardHook:
    """Evaluates an optional reward model without ever stopping the control loop.

    Args:
        model: An object with ``potential(obs)`` and/or ``reward(obs, action)``, or None.

    Raises:
        TypeError: if ``model`` has neither method.
    """

    def __init__(self, model: Any = None):
        if model is not None and not isinstance(model, PotentialModel | RewardModel):
            raise TypeError(
                f"reward_fn {model!r} has neither potential(obs) nor reward(obs, action)"
            )
        self.model = model
        self.errors = 0
        self.last_error: str | None = None

    def _call(self, name: str, *args) -> float | None:
        fn = getattr(self.model, name, None)
        if fn is None:
            return None
        try:
            value = float(fn(*args))
        except Exception as e:  # a broken model must not stop the arm; it is counted
            self.errors += 1
            self.last_error = f"{name}: {type(e).__name__}: {e}"
            log.warning("reward model %s failed: %s", name, self.last_error)
            return None
        if not math.isfinite(value):
            self.errors += 1
            self.last_error = f"{name} returned {value!r}"
            return None
        return value

    def potential(self, obs) -> float | None:
        """``Phi(obs)``, or None without a potential model or on failure."""
        return self._call("potential", obs)

    def reward(self, obs, action) -> float | None:
        """``r(obs, action)``, or None without a reward model or on failure."""
        return self._call("reward", obs, action)
