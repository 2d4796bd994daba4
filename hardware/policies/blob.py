"""An exported policy blob as the bridge's policy: ``robopref bridge --policy-blob PATH``.

``robopref export --policy RUN --out policy.rpe`` writes a state-based run's deterministic
actor, its observation preprocessing and its state layout into an evaluator blob
(:mod:`robopref.rl.export_policy`). Here the C evaluator runs it each control step; neither
torch, SB3 nor JAX is imported (DESIGN.md: deployment needs no learner). Before the arm
moves, the blob's state layout (:func:`sim.state.state_layout`: arm, mode and fields) must be
the one the bridge builds for the robot (:func:`hardware.core.observation.robot_state_layout`),
its actions the controller's four, and its task one the robot can run
(:func:`hardware.policies.run.check_task`).

Pixel policies are not exported (their CNN encoder is not part of the blob format): they
keep the torch path, ``--run``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from hardware.core.observation import robot_state_layout
from hardware.robots.base import RobotConfig
from sim.controller import EEDeltaController

log = logging.getLogger(__name__)


class PolicyBlobMismatchError(ValueError):
    """A policy blob does not fit the robot; the message names both sides."""


class BlobPolicy:
    """The policy of a loaded blob: ``obs -> action`` on ``obs["state"]``.

    Args:
        evaluator: A :class:`robopref.evaluator.Evaluator` whose blob has a policy.
        robot: The robot the bridge drives.

    Raises:
        PolicyBlobMismatchError: no policy in the blob, another state layout than the
            robot's, actions other than the controller's, or a task for another arm.
    """

    def __init__(self, evaluator: Any, robot: RobotConfig) -> None:
        from hardware.policies.run import RunMismatchError, check_task

        name = evaluator.name
        info = evaluator.info["policy"]
        if info is None:
            raise PolicyBlobMismatchError(
                f"{name} holds no policy (a reward blob? it goes to --reward); export one with "
                "`robopref export --policy RUN --out policy.rpe`"
            )
        want = robot_state_layout(robot)
        if info["layout"] != want:
            raise PolicyBlobMismatchError(
                f"{name}: the policy observes {info['layout']!r} ({info['obs_dim']} values, "
                f"trained on {info['task']}), but the bridge measures {want!r} on robot "
                f"{robot.name}"
            )
        act = EEDeltaController.action_dim
        if info["act_dim"] != act:
            raise PolicyBlobMismatchError(
                f"{name}: the policy gives {info['act_dim']} action values; the bridge takes "
                f"{act}: end-effector dx, dy, dz and the gripper"
            )
        try:
            self.warnings = check_task(info["task"], robot)
        except RunMismatchError as e:
            raise PolicyBlobMismatchError(f"{name}: {e}") from None
        for w in self.warnings:
            log.warning("policy blob %s: %s", name, w)
        self.evaluator, self.info = evaluator, info

    @property
    def task(self) -> str:
        """The task the policy was trained on."""
        return self.info["task"]

    def __call__(self, obs: dict) -> np.ndarray:
        # A new array per step: the bridge keeps each action (episode, command log).
        return self.evaluator.action(obs["state"])


def load_policy_blob(
    path: str | os.PathLike[str], robot: RobotConfig, backend: str | None = None
) -> BlobPolicy:
    """Loads ``path`` into the evaluator (``backend``: default the C one) and checks it.

    Raises:
        FileNotFoundError: no such file.
        robopref.evaluator.BlobFormatError: a corrupt, truncated or foreign blob (a
            ValueError).
        PolicyBlobMismatchError: the policy does not fit ``robot`` (see `BlobPolicy`).
    """
    from robopref.evaluator import Evaluator  # NumPy and the C extension only

    return BlobPolicy(Evaluator.load(path, backend=backend), robot)
