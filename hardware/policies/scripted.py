"""Policies the bridge command line can load: ``obs -> action`` callables.

A trained policy is loaded by import path (``package.module:factory``, called with the
``--policy-kwargs`` JSON). Two built-ins need no model: ``hold`` (no motion, gripper open)
and ``reach`` (the scripted reach expert of ``sim.experts`` steering the TCP, read from the
observation's ``state``, to an operator-given ``goal`` in the base frame): useful to check a
new rig end to end before any learned policy moves it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from sim.experts import OPEN, ReachExpert

Policy = Callable[[dict], np.ndarray]


def tcp_from_state(state: np.ndarray, n_arm: int) -> np.ndarray:
    """The TCP position inside a proprioceptive ``state`` (q, qd, TCP, finger width)."""
    return np.asarray(state[2 * n_arm : 2 * n_arm + 3], dtype=float)


def hold_policy(obs: dict) -> np.ndarray:
    """No end-effector motion, gripper open."""
    return np.array([0.0, 0.0, 0.0, OPEN], dtype=np.float32)


def arm_joints_in_state(state: np.ndarray) -> int:
    """The number of arm joints a proprioceptive ``state`` of ``2 * n + 4`` values holds.

    Raises:
        ValueError: for a length no arm's state has.
    """
    size = len(state)
    if size < 6 or size % 2:
        raise ValueError(f"a state of {size} values is not (q, qd, TCP, finger width)")
    return (size - 4) // 2


class GoalReachPolicy:
    """The scripted reach expert toward a fixed ``goal`` (metres, robot base frame).

    Args:
        goal: Target TCP position.
        n_arm: Arm joints in the state (7 for the Panda, 6 for the UR5e), or None to read
            it from the state's length.
    """

    def __init__(self, goal, n_arm: int | None = None):
        self.goal = np.asarray(goal, dtype=float)
        if self.goal.shape != (3,) or not np.isfinite(self.goal).all():
            raise ValueError(f"goal must be 3 finite numbers, got {goal!r}")
        self.n_arm = n_arm
        self._expert = ReachExpert()

    def __call__(self, obs: dict) -> np.ndarray:
        state = obs["state"]
        tcp = tcp_from_state(state, self.n_arm or arm_joints_in_state(state))
        return self._expert.act(tcp, None, self.goal, False).astype(np.float32)


BUILTIN: dict[str, Callable[..., Policy]] = {"hold": lambda: hold_policy, "reach": GoalReachPolicy}


def load_policy(spec: str, **kwargs) -> Policy:
    """``"hold"``, ``"reach"`` (``goal=[x, y, z]``) or ``"module:factory"`` called with kwargs.

    Raises:
        ValueError: for an unknown built-in or a malformed import path.
    """
    if spec in BUILTIN:
        return BUILTIN[spec](**kwargs)
    if ":" not in spec:
        raise ValueError(f"unknown policy {spec!r}; valid: {sorted(BUILTIN)} or 'module:factory'")
    module, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    policy = factory(**kwargs)
    if not callable(policy):
        raise ValueError(f"{spec} returned {policy!r}, which is not callable")
    return policy
