"""The safety layer between the controller and the arm. Every command passes through it.

Parts, each tested on its own (``tests/hardware/test_safety.py``):

* :func:`limit_joint_targets`: non-finite targets never go out (``np.clip`` would pass NaN
  through, so finiteness is checked first); joint position limits less a margin; velocity
  and acceleration limits between successive commands, with a braking bound so the arm can
  always stop before a position limit; a maximum step from the measured position. It is
  vectorized over leading axes: the runtime calls it with one row, the fuzz test with many.
  When the constraints admit no target (the arm lags far behind its command, say) the
  result is a *hold*: the previous command, repeated.
* :class:`WorkspaceGuard`: the TCP of a command, by the shared kinematics, must lie in a box.
* :class:`FreshnessGate`: joint states older than ``joint_state_max_periods`` control
  periods, or frames older than ``frame_max_age``, mean no new action (hold, degraded); if
  that lasts ``fault_after`` seconds, or the first complete set of joint states and frames
  (every camera) has not arrived ``startup_timeout`` after start, it is a fault: nothing is
  published until the fault is cleared explicitly.
* :class:`EStop`: a latch; once triggered it stays until :meth:`EStop.reset`.
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass

import numpy as np

from hardware.core.errors import EStopActiveError

# Bits of the ``flags`` that :func:`limit_joint_targets` returns, per row.
NONFINITE, POSITION, VELOCITY, ACCELERATION, MAX_STEP, INFEASIBLE = (1 << i for i in range(6))
FLAG_NAMES = {
    NONFINITE: "non-finite target",
    POSITION: "position limit",
    VELOCITY: "velocity limit",
    ACCELERATION: "acceleration limit",
    MAX_STEP: "max step from measured",
    INFEASIBLE: "no admissible target (hold)",
}


def flag_names(flags: int) -> tuple[str, ...]:
    """The names of the bits set in ``flags``."""
    return tuple(name for bit, name in FLAG_NAMES.items() if flags & bit)


@dataclass(frozen=True)
class SafetyConfig:
    """Settings of the safety layer.

    Attributes:
        position_margin: Distance kept from every vendor position limit, rad.
        velocity_scale: Fraction of the vendor velocity limits allowed, (0, 1].
        acceleration_scale: Fraction of the vendor acceleration limits allowed, (0, 1].
        max_step: Largest difference between a command and the measured position, rad.
        workspace_low: Lower corner of the box the commanded TCP must stay in (base frame).
        workspace_high: Its upper corner. The default is the controller's target box grown by
            5 cm, with the floor at the table top (z = 0).
        joint_state_max_periods: Joint states older than this many control periods are stale.
        frame_max_age: Camera frames older than this (seconds) are stale.
        fault_after: Seconds of continuous staleness before the bridge stops publishing.
        startup_timeout: Seconds after start within which every stream must have delivered.
    """

    position_margin: float = 0.05
    velocity_scale: float = 0.5
    acceleration_scale: float = 0.5
    max_step: float = 0.2
    workspace_low: tuple[float, float, float] = (0.15, -0.5, 0.0)
    workspace_high: tuple[float, float, float] = (0.85, 0.5, 0.65)
    joint_state_max_periods: float = 2.0
    frame_max_age: float = 0.25
    fault_after: float = 1.0
    startup_timeout: float = 5.0

    def __post_init__(self) -> None:
        checks = {
            "position_margin": self.position_margin >= 0,
            "velocity_scale": 0 < self.velocity_scale <= 1,
            "acceleration_scale": 0 < self.acceleration_scale <= 1,
            "max_step": self.max_step > 0,
            "joint_state_max_periods": self.joint_state_max_periods > 0,
            "frame_max_age": self.frame_max_age > 0,
            "fault_after": self.fault_after > 0,
            "startup_timeout": self.startup_timeout > 0,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and ok):
                raise ValueError(f"SafetyConfig.{name} = {value!r} is out of range")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError(
                f"workspace_low {self.workspace_low} must be below workspace_high "
                f"{self.workspace_high} on every axis"
            )


def _brake_speed(dist: np.ndarray, acc: np.ndarray, dt: float) -> np.ndarray:
    """Largest speed from which the arm can still stop within ``dist``, exactly, in steps.

    Braking at the limit, the speed drops by ``u = acc * dt`` per period: ``v, v - u, ...``
    until zero, covering ``dt * sum(max(v - k u, 0))``. With ``w = v / u`` in ``(K-1, K]``
    that is ``u dt (K w - K (K-1) / 2)``, piecewise linear and increasing in ``w``;
    inverted below. Full braking from this speed lands exactly on the bound the next
    period, so the bound never forces a deceleration above ``acc`` (and ``v dt <= dist``).
    """
    u = acc * dt
    x = np.maximum(dist, 0.0) / (dt * u)
    k = np.maximum(1.0, np.ceil((np.sqrt(1.0 + 8.0 * x) - 1.0) / 2.0))
    return (x + k * (k - 1.0) / 2.0) / k * u


def limit_joint_targets(target, measured, prev, prev_vel, lower, upper, vmax, amax, dt, max_step):
    """Joint targets made safe; vectorized over leading axes (every array ``(..., n)``).

    Args:
        target: Desired joint positions (may hold NaN, inf, huge values).
        measured: Measured joint positions.
        prev: The previous command (within ``[lower, upper]``).
        prev_vel: Its velocity, ``(prev - command before it) / dt`` (0 after a hold).
        lower, upper: Position limits (margin already applied).
        vmax, amax: Velocity and acceleration limits (> 0).
        dt: Control period, seconds.
        max_step: Largest ``|command - measured|`` per joint.

    Returns:
        ``(command, velocity, hold, flags)``: ``command`` within every limit, or equal to
        ``prev`` where ``hold``; ``velocity`` to pass as ``prev_vel`` next time; ``flags``
        an int bitmask per row (:data:`FLAG_NAMES`).
    """
    target, measured, prev, prev_vel = (
        np.asarray(a, dtype=np.float64) for a in (target, measured, prev, prev_vel)
    )
    fin_t, fin_m = np.isfinite(target), np.isfinite(measured)
    bad = ~(fin_t.all(-1) & fin_m.all(-1))
    t = np.where(fin_t, target, prev)
    m = np.where(fin_m, measured, prev)
    bounds = {  # name -> (lowest, highest) admissible velocity, rad/s
        VELOCITY: (-vmax, vmax),
        ACCELERATION: (prev_vel - amax * dt, prev_vel + amax * dt),
        POSITION: (
            np.maximum((lower - prev) / dt, -_brake_speed(prev - lower, amax, dt)),
            np.minimum((upper - prev) / dt, _brake_speed(upper - prev, amax, dt)),
        ),
        MAX_STEP: ((m - max_step - prev) / dt, (m + max_step - prev) / dt),
    }
    lows, highs = zip(*bounds.values())
    v_lo = functools.reduce(np.maximum, lows)
    v_hi = functools.reduce(np.minimum, highs)
    # The braking bound is tight by design (full deceleration lands exactly on it), so
    # allow rounding: where v_lo exceeds v_hi by a hair, v_hi (the safe side) wins below.
    feasible = (v_lo <= v_hi + 1e-9).all(-1)
    v_des = (t - prev) / dt
    v = np.minimum(np.maximum(v_des, v_lo), v_hi)
    cmd = np.minimum(np.maximum(prev + v * dt, lower), upper)
    clipped = v != v_des
    flags = np.where(bad, NONFINITE, 0) | np.where(feasible, 0, INFEASIBLE)
    for bit, (lo, hi) in bounds.items():
        flags = flags | np.where((clipped & ((v == lo) | (v == hi))).any(-1), bit, 0)
    hold = bad | ~feasible
    cmd = np.where(hold[..., None], prev, cmd)
    vel = np.where(hold[..., None], 0.0, (cmd - prev) / dt)
    return cmd, vel, hold, flags


class WorkspaceGuard:
    """Whether the TCP of a joint configuration lies inside a box (base frame).

    Args:
        tcp_position: ``q -> (3,)``, the shared kinematics.
        low, high: Box corners.
    """

    def __init__(self, tcp_position, low, high):
        self.tcp_position = tcp_position
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)

    def contains(self, q: np.ndarray) -> bool:
        p = self.tcp_position(q)
        return bool(np.isfinite(p).all() and (p >= self.low).all() and (p <= self.high).all())


class EStop:
    """A latching emergency stop: :meth:`trigger` holds until an explicit :meth:`reset`."""

    def __init__(self):
        self._reason: str | None = None

    @property
    def active(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        return self._reason

    def trigger(self, reason: str = "e-stop") -> None:
        if self._reason is None:  # the first reason is the one worth reporting
            self._reason = str(reason)

    def reset(self) -> None:
        self._reason = None

    def check(self) -> None:
        """Raises :class:`EStopActiveError` while latched."""
        if self._reason is not None:
            raise EStopActiveError(f"e-stop latched ({self._reason}); call reset_estop() first")


class Freshness(enum.Enum):
    """What the gate allows this control period."""

    WAITING = "waiting"  # not every stream has delivered yet: no motion
    FRESH = "fresh"  # act
    STALE = "stale"  # hold, degraded
    FAULT = "fault"  # stop publishing, report an error


@dataclass(frozen=True)
class GateVerdict:
    state: Freshness
    reasons: tuple[str, ...] = ()


class FreshnessGate:
    """Ages of the latest joint state and frames -> act, hold, or fault.

    Args:
        config: Safety settings (ages, fault and startup timeouts).
        control_period: Seconds per control step.
    """

    def __init__(self, config: SafetyConfig, control_period: float):
        self.js_max_age = config.joint_state_max_periods * control_period
        self.frame_max_age = config.frame_max_age
        self.fault_after = config.fault_after
        self.startup_timeout = config.startup_timeout
        self.started_at: float | None = None
        self.stale_since: float | None = None

    def start(self, now: float) -> None:
        self.started_at, self.stale_since = now, None

    def assess(self, now: float, js_arrival: float | None, frame_arrivals: dict) -> GateVerdict:
        """Verdict for ``now``; ``frame_arrivals`` maps each camera to its last arrival or None.

        Arrival times are the bridge clock's, so a sender's clock offset cannot hide a stall.
        """
        missing = [c for c, t in frame_arrivals.items() if t is None]
        if js_arrival is None:
            missing.insert(0, "joint_states")
        if missing:
            waited = now - (self.started_at if self.started_at is not None else now)
            why = f"no data yet from {missing}"
            if self.started_at is not None and waited > self.startup_timeout:
                return GateVerdict(Freshness.FAULT, (f"{why} after {waited:.2f} s",))
            return GateVerdict(Freshness.WAITING, (why,))
        assert js_arrival is not None  # else "joint_states" is missing
        reasons = []
        if now - js_arrival > self.js_max_age:
            reasons.append(f"joint state {now - js_arrival:.3f} s old (> {self.js_max_age:.3f})")
        for cam, t in frame_arrivals.items():
            if now - t > self.frame_max_age:
                reasons.append(f"camera {cam} {now - t:.3f} s old (> {self.frame_max_age:.3f})")
        if not reasons:
            self.stale_since = None
            return GateVerdict(Freshness.FRESH)
        if self.stale_since is None:
            self.stale_since = now
        if now - self.stale_since >= self.fault_after:
            reasons.append(f"stale for {now - self.stale_since:.2f} s")
            return GateVerdict(Freshness.FAULT, tuple(reasons))
        return GateVerdict(Freshness.STALE, tuple(reasons))


#: Joint states further than this beyond the limits (rad) are refused as implausible.
PLAUSIBLE_SLACK = 0.5
#: Joint speeds above this multiple of the velocity limits are refused as implausible.
PLAUSIBLE_SPEED = 3.0


def implausible_joint_state(robot, sample) -> str | None:
    """Why ``sample`` is no state ``robot`` can be in, or None when it is plausible.

    A measurement beyond the limits by more than :data:`PLAUSIBLE_SLACK`, or moving faster
    than :data:`PLAUSIBLE_SPEED` times the velocity limits, comes from a broken sender: it
    is not a state to act on (and it would overflow the float32 observation).
    """
    q, qd = sample.select(robot.arm_joints)
    lim = robot.limits
    slack, lo, hi = PLAUSIBLE_SLACK, np.asarray(lim.lower), np.asarray(lim.upper)
    if not (np.isfinite(q).all() and (q >= lo - slack).all() and (q <= hi + slack).all()):
        return f"arm positions {q} beyond the limits by more than {slack} rad"
    vmax = PLAUSIBLE_SPEED * np.asarray(lim.velocity)
    if qd is not None and not (np.isfinite(qd).all() and (np.abs(qd) <= vmax).all()):
        return f"arm velocities {qd} beyond {PLAUSIBLE_SPEED}x the limits"
    if robot.gripper is not None:
        g, _ = sample.select(robot.gripper_joints)
        top = robot.gripper.open_position + 0.01
        if not (np.isfinite(g).all() and (g >= -0.01).all() and (g <= top).all()):
            return f"finger positions {g} outside [-0.01, {top}]"
    return None


class CommandLimiter:
    """:func:`limit_joint_targets` with its state (the previous command) for one arm.

    Args:
        lower, upper: Vendor position limits.
        velocity, acceleration: Vendor limits.
        config: Safety settings.
        control_period: Seconds per command.
        workspace: Optional :class:`WorkspaceGuard`.
    """

    def __init__(
        self,
        lower,
        upper,
        velocity,
        acceleration,
        config: SafetyConfig,
        control_period: float,
        workspace: WorkspaceGuard | None = None,
    ):
        m = config.position_margin
        self.lower = np.asarray(lower, dtype=float) + m
        self.upper = np.asarray(upper, dtype=float) - m
        if (self.lower >= self.upper).any():
            raise ValueError(f"position_margin {m} leaves no range on some joint")
        self.vmax = np.asarray(velocity, dtype=float) * config.velocity_scale
        self.amax = np.asarray(acceleration, dtype=float) * config.acceleration_scale
        self.dt = float(control_period)
        self.max_step = float(config.max_step)
        self.workspace = workspace
        self.prev: np.ndarray | None = None
        self.prev_vel = np.zeros_like(self.lower)

    def reset(self) -> None:
        """Forget the previous command: the next one starts from the measured position."""
        self.prev, self.prev_vel = None, np.zeros_like(self.lower)

    def within_limits(self, q: np.ndarray) -> bool:
        return bool(np.isfinite(q).all() and (q >= self.lower).all() and (q <= self.upper).all())

    def limit(self, target: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray | None, tuple]:
        """``(command, reasons)``; the command is None when nothing may be sent.

        A hold returns the previous command; before any command, a hold (or a measured
        position outside the limits less the margin) returns None.
        """
        if self.prev is None:
            if not self.within_limits(np.asarray(measured, dtype=float)):
                return None, ("measured position outside the limits less the margin",)
            self.prev = np.asarray(measured, dtype=float).copy()
            self.prev_vel = np.zeros_like(self.lower)
            first = True
        else:
            first = False
        cmd, vel, hold, flags = limit_joint_targets(
            target,
            measured,
            self.prev,
            self.prev_vel,
            self.lower,
            self.upper,
            self.vmax,
            self.amax,
            self.dt,
            self.max_step,
        )
        reasons = flag_names(int(flags))
        if not hold and self.workspace is not None and not self.workspace.contains(cmd):
            hold, reasons = True, (*reasons, "TCP outside the workspace box")
        if hold:
            if first:
                self.prev = None
                return None, reasons
            self.prev_vel = np.zeros_like(self.lower)
            return self.prev.copy(), (*reasons, "hold")
        self.prev, self.prev_vel = cmd, vel
        return cmd.copy(), reasons

    def hold(self) -> np.ndarray | None:
        """The previous command, to repeat (None before the first)."""
        if self.prev is None:
            return None
        self.prev_vel = np.zeros_like(self.lower)
        return self.prev.copy()
