"""The bridge's reward hook: any object with ``potential(obs)`` and/or ``reward(obs, action)``
(and optionally ``success_probability(obs)``).

This is the seam where the C evaluator (``robopref/evaluator``) plugs in:
:class:`EvaluatorRewardModel` (built by :func:`load_reward_hook`) offers an exported blob's
preference head as ``reward``, its PRM head, fed by the PRM's encoder, as ``potential``, and
the PRM's success head, where the blob has one, as ``success_probability``. A state-only
model gives a potential (DESIGN.md contract 4), a preference model a reward. The bridge
logs them per step and records them with the episode; it never feeds them back into
control.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
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

    @property
    def has_success_probability(self) -> bool:
        """Whether the model gives ``success_probability(obs)`` (None means it has none)."""
        return getattr(self.model, "success_probability", None) is not None

    def success_probability(self, obs) -> float | None:
        """P(success) of ``obs``, or None without one or on failure."""
        return self._call("success_probability", obs)


class EvaluatorRewardModel:
    """An exported reward blob (``.rpe``, :mod:`robopref.evaluator`) as the bridge's model.

    * ``reward(obs, action)``: the preference head's ensemble mean at ``obs["state"]`` (and
      the action, for a ``"state_action"`` head);
    * ``potential(obs)``: the PRM potential of the camera frames in ``obs``. The PRM's
      encoder runs in torch; the blob's head (view fusion, progress bins) in the evaluator.
      Views missing from ``obs`` are masked out.
    * ``success_probability(obs)``: P(success) from the blob's PRM success head, on the
      same features (the encoder runs once when ``potential`` saw the same ``obs`` first,
      as the bridge calls them).

    They are attributes set per blob, None where the blob cannot serve it (no preference
    head: no ``reward``; no PRM head or no encoder: no ``potential``; no PRM success head
    or no encoder: no ``success_probability``); the protocols above and
    :class:`RewardHook` read None as "this model has none". The bridge records the
    returned values with the episode; each call also leaves its values here:
    ``last_reward``, ``last_spread`` (the ensemble's std over members, its uncertainty),
    ``last_potential``, ``last_success_probability`` and ``last_missing_views`` (the PRM
    views ``obs`` lacked).

    Args:
        evaluator: A loaded :class:`robopref.evaluator.Evaluator`.
        encoder: The ``ProcessRewardModel`` the blob's PRM head was exported from (its
            encoder turns frames into the head's features), or None.
        robot: The bridge's robot (config or name): its arm sets the size of the state
            the bridge observes (2 x joints + 4: 18 for a Panda).
        cameras: The cameras the bridge observes (default: all of the robot's).

    Raises:
        ValueError: if the preference head's state or action size is not the bridge's; if
            the encoder's views or feature size are not the PRM head's, or its head gives
            other potentials (it is not the model the blob was exported from); if an encoder
            is given for a blob without a PRM head, or no camera shows a PRM view; if the
            model would have neither method.
    """

    def __init__(
        self,
        evaluator: Any,
        encoder: Any = None,
        *,
        robot: Any = "franka_panda",
        cameras: Sequence[str] | None = None,
    ):
        from hardware.core.observation import state_dim
        from hardware.robots import get_robot
        from sim.controller import EEDeltaController

        robot = get_robot(robot) if isinstance(robot, str) else robot
        self.evaluator, self.encoder = evaluator, encoder
        self.cameras = (
            tuple(cameras) if cameras is not None else tuple(c.name for c in robot.cameras)
        )
        self.last_reward: float | None = None
        self.last_spread: float | None = None
        self.last_potential: float | None = None
        self.last_success_probability: float | None = None
        self.last_missing_views: tuple[str, ...] = ()
        # The encoder's output for the last observation: (obs, its frames, features, mask).
        self._encoded: tuple[Any, tuple[Any, ...], np.ndarray, np.ndarray] | None = None
        name = getattr(evaluator, "name", repr(evaluator))
        pref, prm = evaluator.info["preference"], evaluator.info["prm"]
        self._with_action = False
        self.reward: Callable[[dict[str, np.ndarray], np.ndarray], float] | None = None
        self.potential: Callable[[dict[str, np.ndarray]], float] | None = None
        self.success_probability: Callable[[dict[str, np.ndarray]], float] | None = None
        if pref is not None:
            want = state_dim(len(robot.arm_joints))
            if pref["obs_dim"] != want:
                raise ValueError(
                    f"{name}: the preference head takes a state of {pref['obs_dim']} values, "
                    f"but the bridge's {robot.name} observation state has {want} (joint "
                    f"positions and velocities of {len(robot.arm_joints)} joints, TCP position, "
                    "finger width)"
                )
            self._with_action = pref["input"] == "state_action"
            act = EEDeltaController.action_dim
            if self._with_action and pref["act_dim"] != act:
                raise ValueError(
                    f"{name}: the preference head takes an action of {pref['act_dim']} values, "
                    f"but the bridge's actions have {act} (end-effector deltas and gripper)"
                )
            self.reward = self._reward
        if encoder is not None:
            self._check_encoder(name, prm, encoder)
            self.potential = self._potential
            if "success" in prm.get("heads", ()):
                self.success_probability = self._success_probability
        elif prm is not None:
            log.warning("%s: PRM head unused (no encoder given): no potential", name)
        if self.reward is None and self.potential is None:
            raise ValueError(
                f"{name}: nothing to evaluate: the blob has no preference head, and its PRM "
                "head needs the PRM file it was exported from as the encoder"
            )

    def _check_encoder(self, name: str, prm: dict | None, encoder: Any) -> None:
        from robopref.evaluator import Evaluator
        from robopref.evaluator.blob import encode_blob

        cfg = encoder.config
        if prm is None:
            raise ValueError(
                f"{name}: the blob has no PRM head; an encoder alone gives no potential"
            )
        if tuple(cfg.views) != tuple(prm["views"]) or cfg.feature_dim != prm["dim"]:
            raise ValueError(
                f"{name}: the PRM head takes views {list(prm['views'])} of {prm['dim']} features, "
                f"but the encoder {encoder.name!r} gives views {list(cfg.views)} of "
                f"{cfg.feature_dim}"
            )
        if not set(cfg.views) & set(self.cameras):
            raise ValueError(
                f"{name}: none of the PRM's views {list(cfg.views)} is a bridge camera "
                f"{list(self.cameras)}: every potential would fail"
            )
        # Same shapes are not the same model: features of another training run's encoder
        # would give meaningless potentials. Compare the heads on a few probe features.
        twin = Evaluator.from_bytes(encode_blob(prm=encoder.numpy_head()), backend="numpy")
        rng = np.random.default_rng(0)
        v, d = len(cfg.views), cfg.feature_dim
        feats = rng.standard_normal((4, v, d)).astype(np.float32)
        mask = np.ones((4, v), bool)
        mask[1:, :] = rng.random((3, v)) < 0.5
        mask[np.arange(4), np.arange(4) % v] = True  # at least one view each
        got = self.evaluator.potential_batch(feats, mask)
        want = twin.potential_batch(feats, mask)
        if not np.allclose(got, want, rtol=0, atol=1e-4):
            raise ValueError(
                f"{name}: the encoder {encoder.name!r} is not the model the blob's PRM head "
                f"was exported from (probe potentials {got.tolist()} vs {want.tolist()})"
            )
        missing = [view for view in cfg.views if view not in self.cameras]
        if missing:
            log.warning("%s: PRM views %s are not bridge cameras: always masked", name, missing)

    def _reward(self, obs: dict[str, np.ndarray], action: np.ndarray) -> float:
        """The ensemble-mean reward of ``obs["state"]`` (and ``action``); the spread goes
        to ``last_spread``."""
        self.last_reward = self.last_spread = None
        state = np.ascontiguousarray(obs["state"], dtype=np.float32)
        act = np.ascontiguousarray(action, dtype=np.float32) if self._with_action else None
        mean, spread = self.evaluator.reward(state, act)
        self.last_reward, self.last_spread = float(mean), float(spread)
        return self.last_reward

    def _encode(self, obs: dict[str, np.ndarray], reuse: bool) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's features and mask of ``obs``; with ``reuse``, those of the last call
        when it was on this very ``obs`` holding the very same frame arrays (the bridge
        asks for the potential, then P(success), of one observation: one encoder pass)."""
        frames = tuple(obs.get(v) for v in self.encoder.config.views)
        last = self._encoded
        if (
            reuse
            and last is not None
            and last[0] is obs
            and all(a is b for a, b in zip(last[1], frames))
        ):
            return last[2], last[3]
        self._encoded = None
        views = {v: np.asarray(obs[v])[None] for v in self.encoder.config.views if v in obs}
        features, mask = self.encoder.features(views)
        self.last_missing_views = tuple(self.encoder.last_missing_views)
        self._encoded = (obs, frames, features[0], mask[0])
        return features[0], mask[0]

    def _potential(self, obs: dict[str, np.ndarray]) -> float:
        """``Phi`` of the frames in ``obs`` (views it lacks are masked out)."""
        self.last_potential = None
        features, mask = self._encode(obs, reuse=False)
        self.last_potential = float(self.evaluator.potential(features, mask))
        return self.last_potential

    def _success_probability(self, obs: dict[str, np.ndarray]) -> float:
        """P(success) of the frames in ``obs``, from the blob's PRM success head."""
        self.last_success_probability = None
        features, mask = self._encode(obs, reuse=True)
        self.last_success_probability = float(self.evaluator.success_probability(features, mask))
        return self.last_success_probability

    def __repr__(self) -> str:
        methods = ("reward", "potential", "success_probability")
        has = [m for m in methods if getattr(self, m) is not None]
        return f"EvaluatorRewardModel({self.evaluator!r}, methods={has})"


def load_reward_hook(
    blob_path: str | os.PathLike[str],
    prm_encoder: str | os.PathLike[str] | None = None,
    *,
    robot: Any = "franka_panda",
    cameras: Sequence[str] | None = None,
    backend: str | None = None,
) -> EvaluatorRewardModel:
    """The bridge's ``reward_fn`` from an exported blob (and the PRM file it came from).

    torch is imported only when ``prm_encoder`` is given; the blob alone needs NumPy and
    the C evaluator.

    Args:
        blob_path: The ``.rpe`` blob (``robopref export``).
        prm_encoder: The ``ProcessRewardModel`` file whose head the blob holds, for
            ``potential``; None: no potential.
        robot, cameras: The bridge's robot and cameras (see :class:`EvaluatorRewardModel`).
        backend: The evaluator backend (default: ``$ROBOPREF_EVALUATOR_BACKEND`` or "c").

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a corrupt blob or model file, or one that does not fit the bridge (see
            :class:`EvaluatorRewardModel`).
        ImportError: the C evaluator is asked for and not built.
    """
    from robopref.evaluator import Evaluator

    evaluator = Evaluator.load(blob_path, backend)
    encoder = None
    if prm_encoder is not None:
        from robopref.rewards.prm import ProcessRewardModel  # torch; only for an encoder

        encoder = ProcessRewardModel.load(prm_encoder)
    return EvaluatorRewardModel(evaluator, encoder, robot=robot, cameras=cameras)


def reward_hook_from(
    blob_path: str | None,
    prm_encoder: str | None,
    *,
    robot,
    cameras=None,
    spelled: tuple[str, str] = ("reward", "reward_encoder"),
) -> EvaluatorRewardModel | None:
    """The bridge's ``reward_fn`` from its two settings, as the rclpy node and ``robopref
    bridge`` both read them: None without a blob, :func:`load_reward_hook` with one.

    Args:
        blob_path: The ``.rpe`` blob, or None/"" for no reward.
        prm_encoder: The PRM file the blob's head came from, or None/"".
        robot, cameras: The bridge's robot and cameras.
        spelled: How the caller spells the two settings, for the error (the node's
            parameters or the command line's flags).

    Raises:
        ValueError: an encoder without a blob, or what :func:`load_reward_hook` raises.
        FileNotFoundError: a file is missing.
    """
    if not blob_path:
        if prm_encoder:
            raise ValueError(f"{spelled[1]} needs {spelled[0]} (the .rpe blob it belongs to)")
        return None
    return load_reward_hook(blob_path, prm_encoder or None, robot=robot, cameras=cameras)
