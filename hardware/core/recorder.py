"""Records what the bridge saw and did as an :class:`robopref.data.Episode`.

Real episodes use the shared format (DESIGN.md contract 3) so they can be labelled in the
query UI and used to fine-tune reward models like sim ones. Observation ``t`` and the action
taken on it form one row; an episode ends on an observation, so an action whose outcome was
never observed (the run was stopped first) is dropped. ``reward`` is NaN (no task reward on
a real robot); a reward model's potential and reward, when one is plugged in, go to
``metadata["reward_model"]`` (``None`` where it failed or returned a non-finite value), with
``"success_probability"`` (per observation, like ``"potential"``) where the bridge logs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from robopref.data import Episode


def _finite_or_none(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


class EpisodeRecorder:
    """Accumulates one episode.

    Args:
        cameras: Camera keys of the observations to keep as frames.
        metadata: Episode metadata (``task``, ``source``, ``backend``, ``seed``, ``robot``,
            ``control_hz``, extra keys).
    """

    def __init__(self, cameras, metadata: Mapping[str, Any]):
        self.cameras = tuple(cameras)
        self.metadata = dict(metadata)
        self.states: list[np.ndarray] = []
        self.frames: dict[str, list[np.ndarray]] = {c: [] for c in self.cameras}
        self.stamps: list[float] = []
        self.potentials: list[float | None] = []
        self.success_probabilities: list[float | None] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float | None] = []
        self.success: list[bool] = []
        self.held: list[int] = []

    @property
    def steps(self) -> int:
        return len(self.actions)

    @property
    def awaiting_action(self) -> bool:
        """True when the last row is an observation with no action yet."""
        return len(self.states) == len(self.actions) + 1

    def observe(
        self, obs, stamp: float, success: bool = False, potential=None, success_probability=None
    ) -> None:
        """Adds observation ``t`` (replacing an un-acted one: only acted-on observations
        and the final one are kept). ``success`` is the outcome of the previous action;
        ``potential`` and ``success_probability`` are the reward model's, of ``obs``."""
        row = (np.asarray(obs["state"], dtype=np.float32).copy(), float(stamp))
        if self.awaiting_action:
            self.states[-1], self.stamps[-1] = row
            for c in self.cameras:
                self.frames[c][-1] = obs[c].copy()
            self.potentials[-1] = _finite_or_none(potential)
            self.success_probabilities[-1] = _finite_or_none(success_probability)
            if self.success:
                self.success[-1] = bool(success)
            return
        if self.stamps and stamp < self.stamps[-1]:
            raise ValueError(f"observation stamp {stamp} is older than {self.stamps[-1]}")
        self.states.append(row[0])
        self.stamps.append(row[1])
        for c in self.cameras:
            self.frames[c].append(obs[c].copy())
        self.potentials.append(_finite_or_none(potential))
        self.success_probabilities.append(_finite_or_none(success_probability))
        if self.actions:
            self.success.append(bool(success))

    def act(self, action: np.ndarray, reward=None, held: bool = False) -> None:
        """Adds the action taken on the last observation (ignored if there is none)."""
        if not self.awaiting_action:
            return
        self.actions.append(np.asarray(action, dtype=np.float32).copy())
        self.rewards.append(_finite_or_none(reward))
        if held:
            self.held.append(len(self.actions) - 1)

    def finish(self, *, terminated: bool, truncated: bool, extra: Mapping | None = None):
        """The :class:`Episode`, or None when no action has a following observation."""
        n = min(len(self.actions), len(self.states) - 1)
        if n < 1:
            return None
        metadata = {**self.metadata, **(extra or {})}
        metadata["held_steps"] = [i for i in self.held if i < n]
        if any(p is not None for p in self.potentials) or any(r is not None for r in self.rewards):
            metadata["reward_model"] = {
                "potential": self.potentials[: n + 1],
                "reward": self.rewards[:n],
            }
        if any(p is not None for p in self.success_probabilities):
            metadata.setdefault("reward_model", {})["success_probability"] = (
                self.success_probabilities[: n + 1]
            )
        return Episode(
            state=np.stack(self.states[: n + 1]),
            action=np.stack(self.actions[:n]),
            reward=np.full(n, np.nan, dtype=np.float32),
            success=np.asarray(self.success[:n], dtype=bool),
            timestamp=np.asarray(self.stamps[: n + 1], dtype=np.float64),
            frames={c: np.stack(self.frames[c][: n + 1]) for c in self.cameras},
            terminated=bool(terminated and n == len(self.actions)),
            truncated=bool(truncated or n < len(self.actions)),
            metadata=metadata,
        )
