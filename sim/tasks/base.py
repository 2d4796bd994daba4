"""Task definitions, independent of the simulator: placement, success and progress.

A task knows positions only (TCP, cube, goal, grasp); a backend supplies them. So the same
task object runs in MuJoCo and in PyBullet, and its success and privileged progress mean
the same thing in both.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TaskState:
    """Privileged world state a task judges; never an input to a policy or learned reward."""

    tcp: np.ndarray
    finger_width: float
    object_pos: np.ndarray
    object_vel: np.ndarray
    goal: np.ndarray
    grasped: bool


@dataclass(frozen=True)
class Placement:
    """Where an episode starts: cube position and yaw, goal position."""

    object_pos: np.ndarray
    object_yaw: float
    goal_pos: np.ndarray


@dataclass
class EpisodeRef:
    """Quantities fixed at reset that progress is normalized by."""

    tcp0: np.ndarray
    object0: np.ndarray
    goal: np.ndarray


def frac(d: float, d0: float) -> float:
    """1 at distance 0, 0 at (or beyond) the initial distance ``d0``."""
    return min(1.0, max(0.0, 1.0 - d / max(d0, 1e-6)))


def dist(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance; np.linalg.norm's overhead is several times this on 3-vectors."""
    d = a - b
    return math.sqrt(float(d @ d))


class Task(abc.ABC):
    """A manipulation task of the Panda workcell.

    Attributes:
        name: Registry name, e.g. ``"panda-push"``.
        description: One sentence for people (shown by the query UI).
        max_steps: Time limit in control steps; reaching it is truncation, not termination.
        phases: Names of the task's phases, in order.
    """

    name: str = ""
    description: str = ""
    max_steps: int = 100
    phases: tuple[str, ...] = ("reach",)
    # Nominal placement box for the cube (x, y), base frame.
    object_low = np.array([0.40, -0.15])
    object_high = np.array([0.60, 0.15])

    def __init__(self, object_half_size: float = 0.02):
        # 1-4 cm: the gripper opens to 8 cm, and the cube must stay a graspable block.
        if not isinstance(object_half_size, int | float) or not 0.01 <= object_half_size <= 0.04:
            raise ValueError(
                f"object_half_size must be within 0.01..0.04 m, got {object_half_size!r}"
            )
        self.h = float(object_half_size)

    @abc.abstractmethod
    def sample_placement(self, rng: np.random.Generator, spread: float = 1.0) -> Placement:
        """Cube and goal for a new episode; ``spread`` > 1 widens the ranges (randomization)."""

    @abc.abstractmethod
    def success(self, s: TaskState) -> bool:
        """Whether the task is solved in state ``s``."""

    #: What the goal is compared with (``"tcp"`` or ``"object_pos"``); None: success does
    #: not depend on the goal alone (lift needs a grasp), so goals cannot be relabelled.
    achieved_field: str | None = None

    def goal_reached(self, achieved: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Success of states ``(N, 3)`` of the ``achieved_field`` against goals ``(N, 3)``,
        for hindsight relabelling; tasks whose success is not a distance to the goal raise."""
        raise NotImplementedError(f"{self.name}: success is not a distance to the goal")

    def relabel_goal(self, achieved: np.ndarray) -> np.ndarray:
        """The goal that the positions ``achieved`` ``(N, 3)`` would have reached: what a
        sampled goal of this task looks like there (push: its marker lies on the table)."""
        return np.asarray(achieved, np.float32)

    @abc.abstractmethod
    def progress(self, s: TaskState, ref: EpisodeRef) -> tuple[float, int]:
        """Privileged progress in [0, 1] and the index of the current phase."""

    # --- helpers for subclasses -----------------------------------------------------------
    def _box(self, rng, low, high, spread) -> np.ndarray:
        low, high = np.asarray(low, float), np.asarray(high, float)
        mid, half = (low + high) / 2, (high - low) / 2 * spread
        return rng.uniform(mid - half, mid + half)

    def _object_on_table(self, rng, spread) -> tuple[np.ndarray, float]:
        xy = self._box(rng, self.object_low, self.object_high, spread)
        yaw = float(rng.uniform(-0.3, 0.3) * spread)
        return np.array([xy[0], xy[1], self.h]), yaw

    def _goal_away_from(self, rng, obj_xy, low, high, min_dist, spread) -> np.ndarray:
        # Rejection sampling: a goal on top of the cube would make the task trivially solved.
        for _ in range(1000):
            g = self._box(rng, low, high, spread)
            if np.linalg.norm(g[:2] - obj_xy) >= min_dist:
                return g
        raise RuntimeError(f"{self.name}: no goal placement {min_dist} m away from the cube")
