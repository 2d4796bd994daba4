"""The bridge core's settings, status and results (see :mod:`hardware.core.bridge`)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hardware.core.safety import SafetyConfig
from hardware.core.samples import JointCommand
from sim.backends.base import CONTROL_HZ
from sim.controller import ControllerConfig

#: ``std_msgs/Bool`` topic whose ``true`` latches the bridge's e-stop (any adapter).
ESTOP_TOPIC = "/robopref/estop"
#: Where adapters publish the bridge's ``diagnostic_msgs/DiagnosticArray``.
DIAGNOSTICS_TOPIC = "/diagnostics"


class CommandSink(Protocol):
    """Where commands go: a middleware publisher or the in-process stand-in robot."""

    def send(self, command: JointCommand) -> None: ...


class BridgeStatus(enum.Enum):
    DISCONNECTED = "disconnected"
    IDLE = "idle"  # connected, no episode running
    WAITING = "waiting"  # running, not every stream has delivered yet: no motion
    OK = "ok"
    DEGRADED = "degraded"  # holding: stale data, a refused target or a failed policy
    FAULT = "fault"  # latched: stale too long or no data at start; nothing is published
    ESTOP = "estop"  # latched e-stop


@dataclass(frozen=True)
class BridgeConfig:
    """Settings of the bridge core.

    Attributes:
        task: Task name for episode metadata.
        control_hz: Control rate; the sim's by default, so one action means the same.
        cameras: Cameras the policy sees (observation keys), or None for all of the robot's.
        image_size: Policy frame size, ``int`` or ``(height, width)``.
        slop: Largest spread of header stamps in a synchronized set, seconds.
        sync_queue: Messages kept per stream while synchronizing.
        max_steps: Episode length limit in steps (truncation), or None.
        source: Episode ``source`` metadata: ``"real"``, or ``"bridge"`` for a stand-in.
        backend: Episode ``backend`` metadata: ``"real"`` or the stand-in's simulator.
        episode_dir: Directory finished episodes are saved to, or None (kept in memory).
        command_lead: ``time_from_start`` of trajectory commands, seconds (default: one
            control period: the controller reaches each target as the next one arrives).
        safety: Safety layer settings.
        controller: Settings of the shared end-effector controller (as in sim).
        log_size: Number of sent commands kept in :attr:`Bridge.sent`.
        log_success: Log the reward model's P(success) each control step (the exported
            PRM's success head: a blob with one, and the PRM file as its encoder), beside
            the potential: in :class:`StepResult`, the episode's ``metadata["reward_model"]``
            and the bag's reward topic. None (default): whenever the reward model has it,
            since exporting a trained success head is asking for it and it costs one more
            small MLP per step; True: required (the bridge refuses a model without it);
            False: never.
    """

    task: str = "unspecified"
    control_hz: float = CONTROL_HZ
    cameras: tuple[str, ...] | None = None
    image_size: int | tuple[int, int] = 84
    slop: float = 0.02
    sync_queue: int = 10
    max_steps: int | None = None
    source: str = "real"
    backend: str = "real"
    episode_dir: str | None = None
    command_lead: float | None = None
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    log_size: int = 10_000
    log_success: bool | None = None

    def __post_init__(self) -> None:
        if self.log_success not in (None, True, False):
            raise ValueError(f"log_success must be None, True or False, got {self.log_success!r}")
        if not 0 < self.control_hz <= 1000:
            raise ValueError(f"control_hz must be in (0, 1000], got {self.control_hz}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.source not in ("real", "bridge"):
            raise ValueError(f"source must be 'real' or 'bridge', got {self.source!r}")
        if self.command_lead is not None and not self.command_lead > 0:
            raise ValueError(f"command_lead must be > 0, got {self.command_lead}")

    @property
    def period(self) -> float:
        return 1.0 / self.control_hz

    @property
    def size(self) -> tuple[int, int]:
        s = self.image_size
        return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


@dataclass
class StepResult:
    """What one control period did.

    Attributes:
        status: Bridge status after the step.
        command: The command sent (None when nothing was published).
        action: The policy's action (None when the policy did not run).
        reasons: Why the step held, waited or faulted, or what the safety layer clipped.
        error: The typed error behind a fault, an e-stop or a failed policy.
        latency: Seconds from observation to command (wall time), when the policy ran.
        potential: Reward-model potential of the observation, if any.
        reward: Reward-model reward of (observation, action), if any.
        success_probability: Reward-model P(success) of the observation, where it is
            logged (:attr:`BridgeConfig.log_success`).
    """

    status: BridgeStatus
    command: JointCommand | None = None
    action: np.ndarray | None = None
    reasons: tuple[str, ...] = ()
    error: Exception | None = None
    latency: float | None = None
    potential: float | None = None
    reward: float | None = None
    success_probability: float | None = None


@dataclass
class BridgeCounters:
    steps: int = 0
    commands: int = 0
    holds: int = 0
    rejected_messages: int = 0
    policy_errors: int = 0
    overruns: int = 0
    hold_reasons: Counter = field(default_factory=Counter)
