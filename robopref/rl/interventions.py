"""Corrections during training: the scripted expert takes over where the policy stalls.

HIL-SERL (Luo et al. 2024) has a person at a teleoperation device take over whenever the
policy goes wrong, and stores the corrected steps in both the online and the demonstration
buffer of its RLPD learner; that data of the states a policy actually drifts into is what
demonstrations recorded beforehand lack (README, "Push": learned push policies come to rest
at fixed points the clean demonstrations never visit). In simulation the task's scripted
expert plays the person, and a stall rule plays the person's judgement: the expert takes
over when the privileged task progress rose by less than ``stall_progress`` over the last
``stall_steps`` steps (a policy at rest, or undoing what it did), drives ``length`` steps,
and hands back, from env step ``start`` of the run on. ``budget`` caps the steps it drives
in the whole run, as a label budget caps a teacher's answers; the steps and takeovers used
are logged (``metrics.csv``, ``summary.json``).

The wrapper sits outside `robopref.rl.env.CompositeReward`, so every reward term, the
recorded episodes (the preference queries' clips) and the replay buffer see the executed
action; ``info["intervention"]`` carries it to `robopref.rl.buffer.RelabelingReplayBuffer`,
which stores it in place of the policy's action.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np

from robopref.rl.config import InterventionConfig

#: The info key of an intervened step: the action the expert executed (env units).
INFO_INTERVENTION = "intervention"
#: The info key of the policy's step that led into a takeover: the penalty subtracted from
#: its reward (``interventions.penalty``).
INFO_INTERVENTION_PENALTY = "intervention_penalty"


@dataclass
class InterventionCounts:
    """What the interventions used so far (the training loop passes its checkpointed
    `robopref.rl.pebble.LoopState`, which has the same two fields)."""

    intervention_steps: int = 0
    intervention_takeovers: int = 0


class ScriptedIntervention(gymnasium.Wrapper):
    """Lets ``expert`` (``expert(obs, info) -> action``, reading ``info["privileged"]``)
    drive where the policy stalls, within ``config.budget`` steps in all.

    Args:
        env: the training env (its infos carry ``progress``, ``success`` and
            ``privileged``: a sim Panda task).
        expert: the task's scripted expert (`sim.expert`).
        config: the run's `InterventionConfig`.
        counts: where the steps and takeovers used are counted (resumed runs pass theirs).
    """

    def __init__(
        self,
        env: gymnasium.Env,
        expert,
        config: InterventionConfig,
        counts: Any | None = None,
    ) -> None:
        super().__init__(env)
        self.expert = expert
        self.config = config
        self.counts = counts if counts is not None else InterventionCounts()
        self._progress: deque[float] = deque(maxlen=config.stall_steps + 1)
        self._left = 0
        self._obs: Any = None
        self._info: dict | None = None
        #: Env steps taken through this wrapper, the run's count (a resumed run sets it).
        self.env_steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._progress.clear()
        self._progress.append(self._read_progress(info))
        self._left = 0
        self._obs, self._info = obs, info
        return obs, info

    @staticmethod
    def _read_progress(info: dict) -> float:
        if "progress" not in info or "privileged" not in info:
            raise ValueError(
                "interventions need the sim's task progress and privileged state in each "
                "step's info (a sim Panda task); this env gives neither"
            )
        return float(info["progress"])

    def stalled(self) -> bool:
        """The progress of the last ``stall_steps`` steps rose by less than ``stall_progress``."""
        p = self._progress
        return len(p) == p.maxlen and p[-1] - p[0] < self.config.stall_progress

    def step(self, action):
        if self._info is None:
            raise RuntimeError("step() before reset()")
        counts, budget = self.counts, self.config.budget
        if self._takes_over():
            self._left = min(self.config.length, budget - counts.intervention_steps)
            counts.intervention_takeovers += 1
        intervened = self._left > 0
        if intervened:
            action = np.asarray(self.expert(self._obs, self._info), dtype=np.float32)
            self._left -= 1
            counts.intervention_steps += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.env_steps += 1
        if intervened:
            info = {**info, INFO_INTERVENTION: action}
            if info.get("success", False):
                self._left = 0  # solved: hand back
            if self._left == 0:
                self._progress.clear()  # the policy gets a full window after a takeover
        self._progress.append(self._read_progress(info))
        self._obs, self._info = obs, info
        penalty = self.config.penalty
        if penalty and not intervened and not (terminated or truncated) and self._takes_over():
            # This step of the policy's leads into a takeover (the next step's check, made
            # now): it pays for it, so a stall costs the policy although the expert's rescue
            # follows (RLIF); the buffer keeps the penalty through relabelling.
            reward = float(reward) - penalty
            info = {**info, INFO_INTERVENTION_PENALTY: penalty}
            self._info = info
        return obs, reward, terminated, truncated, info

    def _takes_over(self) -> bool:
        """Whether the expert drives the next step: the policy stalled, after ``start``,
        within the budget, and the task is not solved yet."""
        assert self._info is not None  # after reset()
        return (
            self._left == 0
            and self.env_steps >= self.config.start
            and self.counts.intervention_steps < self.config.budget
            and not self._info.get("success", False)
            and self.stalled()
        )


def scaled_action(info: dict, action_space) -> np.ndarray | None:
    """The executed action of an intervened step in the buffer's [-1, 1] units (as SB3's
    `scale_action` maps a Box), or None when the policy acted."""
    action = info.get(INFO_INTERVENTION)
    if action is None:
        return None
    low, high = np.asarray(action_space.low), np.asarray(action_space.high)
    return (2.0 * (np.asarray(action, np.float32) - low) / (high - low) - 1.0).astype(np.float32)


__all__ = ["INFO_INTERVENTION", "InterventionCounts", "ScriptedIntervention", "scaled_action"]
