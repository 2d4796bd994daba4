"""The bridge's launch settings, typed once for both front ends.

The rclpy node reads them from its ROS 2 parameters (:meth:`LaunchConfig.from_node_parameters`,
where ``""``, ``0``, ``"hold"`` and ``"unspecified"`` stand for "not given", as a parameter
cannot be None) and ``robopref bridge`` from its flags (:meth:`LaunchConfig.from_args`); both
then build the policy, the :class:`~hardware.core.bridge_config.BridgeConfig` and the reward
hook from the same object, so a setting cannot mean one thing on one and another on the other.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: How ``--log-success`` and the node's ``log_success`` parameter spell
#: :attr:`BridgeConfig.log_success <hardware.core.bridge_config.BridgeConfig.log_success>`.
LOG_SUCCESS = {"auto": None, "on": True, "off": False}


def parse_log_success(value: str) -> bool | None:
    """``auto`` (log P(success) where the reward model gives it), ``on`` (require it) or
    ``off``; a ValueError naming the valid spellings otherwise."""
    if value not in LOG_SUCCESS:
        raise ValueError(f"log_success: {value!r} is not one of {list(LOG_SUCCESS)}")
    return LOG_SUCCESS[value]


@dataclass(frozen=True)
class LaunchConfig:
    """What a bridge session runs, on which robot.

    Attributes:
        robot: Robot config name (:func:`hardware.robots.get_robot`).
        policy: ``hold``, ``reach`` or ``module:factory``; None: ``hold``, or the run's.
        policy_kwargs: Keyword arguments of ``policy``.
        run: A trained run directory whose latest checkpoint is the policy, or None.
        policy_blob: A policy exported with ``robopref export --policy`` (.rpe), or None.
        task: Task name for episode metadata; None: the run's, or "unspecified".
        cameras: Cameras the policy sees; None: the run's, or all of the robot's.
        image_size: Policy frame size; None: the run's, or 84.
        control_hz: Control rate; None: the sim's.
        max_steps: Episode length limit in steps, or None.
        episode_dir: Where finished episodes are saved, or None (kept in memory).
        reward: An exported ``.rpe`` blob evaluated and recorded every step, or None.
        reward_encoder: The PRM file the blob's PRM head came from (the potential), or None.
        log_success: Log the reward model's P(success) each step: None where it has one,
            True requires it, False never (:attr:`BridgeConfig.log_success`).
    """

    robot: str = "franka_panda"
    policy: str | None = None
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    run: str | None = None
    policy_blob: str | None = None
    task: str | None = None
    cameras: tuple[str, ...] | None = None
    image_size: int | None = None
    control_hz: float | None = None
    max_steps: int | None = None
    episode_dir: str | None = None
    reward: str | None = None
    reward_encoder: str | None = None
    log_success: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.policy_kwargs, dict):
            raise ValueError(f"policy_kwargs must be a JSON object, got {self.policy_kwargs!r}")
        if self.control_hz is not None and not self.control_hz > 0:
            raise ValueError(f"control_hz must be > 0, got {self.control_hz}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")

    @classmethod
    def from_node_parameters(cls, p: Mapping[str, Any]) -> LaunchConfig:
        """From the rclpy node's parameter values (its defaults stand for "not given")."""
        return cls(
            robot=p["robot"],
            policy=None if p["policy"] == "hold" else p["policy"],
            policy_kwargs=json.loads(p["policy_kwargs"]),
            run=p["run"] or None,
            policy_blob=p["policy_blob"] or None,
            task=None if p["task"] == "unspecified" else p["task"],
            cameras=tuple(c for c in p["cameras"].split(",") if c) or None,
            control_hz=p["control_hz"],
            max_steps=p["max_steps"] or None,
            episode_dir=p["episode_dir"] or None,
            reward=p["reward"] or None,
            reward_encoder=p["reward_encoder"] or None,
            log_success=parse_log_success(p["log_success"]),
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LaunchConfig:
        """From ``robopref bridge``'s parsed flags (``--cameras ""``: no camera)."""
        cameras = args.cameras
        return cls(
            robot=args.robot,
            policy=args.policy,
            policy_kwargs=json.loads(args.policy_kwargs),
            run=args.run,
            policy_blob=args.policy_blob,
            task=args.task,
            cameras=None if cameras is None else tuple(c for c in cameras.split(",") if c),
            image_size=args.image_size,
            control_hz=args.control_hz,
            max_steps=args.max_steps,
            episode_dir=args.episode_dir,
            reward=args.reward,
            reward_encoder=args.reward_encoder,
            log_success=parse_log_success(args.log_success),
        )

    def load_policy(self, robot) -> tuple[Callable[[dict], object], dict]:
        """The policy, and the :class:`BridgeConfig` fields it fixes
        (:func:`hardware.policies.run.choose_policy`).

        Raises:
            OSError, ValueError: a bad run or blob, a misfit, or conflicting options.
        """
        from hardware.policies.run import choose_policy

        return choose_policy(
            robot,
            run=self.run,
            policy_blob=self.policy_blob,
            policy=self.policy,
            policy_kwargs=self.policy_kwargs,
            task=self.task,
            cameras=self.cameras,
            image_size=self.image_size,
        )

    def bridge_config(self, fixed: Mapping[str, Any], **more: Any):
        """The bridge core's config: what the policy fixes, these settings, then ``more``."""
        from hardware.core.bridge_config import BridgeConfig

        if self.control_hz is not None:
            more.setdefault("control_hz", self.control_hz)
        more.setdefault("log_success", self.log_success)
        return BridgeConfig(**fixed, max_steps=self.max_steps, episode_dir=self.episode_dir, **more)

    def load_reward(self, robot, cameras=None, spelled=("reward", "reward_encoder")):
        """The bridge's ``reward_fn``, or None without :attr:`reward`
        (:func:`hardware.core.reward_hook.reward_hook_from`)."""
        from hardware.core.reward_hook import reward_hook_from

        return reward_hook_from(
            self.reward, self.reward_encoder, robot=robot, cameras=cameras, spelled=spelled
        )
