"""Reward models and reward tooling for robopref.

This package holds everything that turns observations (and labels) into reward signals for
the learner, and the tools to check them: potential-based shaping, through which every
state-only model (a process reward model or a VLM scorer, giving a potential ``Phi(obs)``)
enters training without changing the task's optimal policy (`shaping`, DESIGN.md contract 4);
and reward-model diagnostics such as the EPIC distance between two reward functions
(`diagnostics`). The PRM, VLM and preference-reward models will get their own modules here.
Nothing in this package drives an environment: the shaping wrapper only passes through the
steps its caller (the learner) takes.
"""

from robopref.rewards.diagnostics import RewardFn, canonicalize, epic_distance, sample_marginals
from robopref.rewards.shaping import NonFinitePotentialError, PotentialShapingWrapper, shaping_terms

__all__ = [
    "NonFinitePotentialError",
    "PotentialShapingWrapper",
    "RewardFn",
    "canonicalize",
    "epic_distance",
    "sample_marginals",
    "shaping_terms",
]
