"""Reward models and reward tooling for robopref.

This package holds everything that turns observations (and labels) into reward signals for
the learner, and the tools to check them: potential-based shaping, through which every
state-only model (a process reward model or a VLM scorer, giving a potential ``Phi(obs)``)
enters training without changing the task's optimal policy (`shaping`, DESIGN.md contract 4);
reward-model diagnostics such as the EPIC distance between two reward functions
(`diagnostics`, and `compare` for recorded episodes); the preference reward model, an
ensemble of per-step rewards ``r(obs, action)`` fit to pairwise labels (`preference`; the
labelled pairs it trains on are `robopref.preferences.PreferenceBatch`); the
multi-view process reward model, a progress potential from several cameras with success and
preference heads (`prm`, trained by `prm_train`, fine-tuned on a run's labels by
`prm_labels`); and the CLIP reward of VLM-RM (`vlm`). The model names are loaded on first use
(module `__getattr__`), so ``import robopref.rewards`` does not import torch (the evaluator
and sim side must not pay for it). Nothing in this package drives an environment: the shaping
wrapper only passes through the steps its caller (the learner) takes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from robopref.rewards.diagnostics import RewardFn, canonicalize, epic_distance, sample_marginals
from robopref.rewards.model_file import ModelFormatError, NonFiniteRewardError
from robopref.rewards.shaping import NonFinitePotentialError, PotentialShapingWrapper, shaping_terms

if TYPE_CHECKING:
    from robopref.rewards.preference import PreferenceRewardConfig, PreferenceRewardModel
    from robopref.rewards.prm import PRMConfig, PRMPrediction, ProcessRewardModel, hop_target
    from robopref.rewards.vlm import (
        ClipCheckpoint,
        ImageSettings,
        VLMBatchScore,
        VLMReward,
        VLMRewardConfig,
        VLMScore,
        load_clip_checkpoint,
        projected_reward,
        projection_matrix,
    )

_PREFERENCE = ("PreferenceRewardConfig", "PreferenceRewardModel")
_PRM = ("PRMConfig", "PRMPrediction", "ProcessRewardModel", "hop_target")
_VLM = (
    "ClipCheckpoint",
    "ImageSettings",
    "VLMBatchScore",
    "VLMReward",
    "VLMRewardConfig",
    "VLMScore",
    "load_clip_checkpoint",
    "projected_reward",
    "projection_matrix",
)
# Names served lazily from submodules that import torch.
_LAZY = {
    **{name: "robopref.rewards.preference" for name in _PREFERENCE},
    **{name: "robopref.rewards.prm" for name in _PRM},
    **{name: "robopref.rewards.vlm" for name in _VLM},
}

__all__ = [
    "ClipCheckpoint",
    "ImageSettings",
    "ModelFormatError",
    "NonFinitePotentialError",
    "NonFiniteRewardError",
    "PRMConfig",
    "PRMPrediction",
    "PotentialShapingWrapper",
    "PreferenceRewardConfig",
    "PreferenceRewardModel",
    "ProcessRewardModel",
    "RewardFn",
    "VLMBatchScore",
    "VLMReward",
    "VLMRewardConfig",
    "VLMScore",
    "canonicalize",
    "epic_distance",
    "hop_target",
    "load_clip_checkpoint",
    "projected_reward",
    "projection_matrix",
    "sample_marginals",
    "shaping_terms",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
