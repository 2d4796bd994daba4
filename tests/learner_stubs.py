"""Test stand-ins shared by the learner-export and bridge-policy tests (tests/ is on sys.path
through its conftest)."""

from __future__ import annotations

import gymnasium as gym


class SpacesOnly(gym.Env):
    """An env that only carries the spaces a learner needs to build (and save) a model."""

    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}
