"""The bridge core: timestamped joint states and frames in, safe joint commands out.

No middleware here (DESIGN.md, "ROS 2 without ROS 2"): adapters feed
:meth:`Bridge.on_joint_state` / :meth:`Bridge.on_image` and deliver what the bridge hands
their :class:`CommandSink`. One control period (:meth:`Bridge.step`) reads as:

1. the freshness gate decides: act, hold (stale data), wait (not every stream yet) or
   fault (stale too long: stop publishing);
2. the observation is built from the latest approximate-time synchronized set with the
   simulator's preprocessing (:mod:`hardware.core.observation`);
3. the policy maps it to an end-effector delta; the shared
   :class:`sim.controller.EEDeltaController` turns that into joint targets from the
   freshest measured position;
4. the safety layer limits them (:mod:`hardware.core.safety`); the command actually sent is
   returned, logged and kept;
5. the reward hook and the episode recorder see the step (the reward, the potential and,
   where the reward model has it and :attr:`BridgeConfig.log_success` allows, P(success)).

The lifecycle follows LeRobot's robots: ``connect()``, ``start()`` (an episode),
``stop()``, ``disconnect()``, a context manager, ``get_observation()`` and
``send_action()`` returning the command actually sent.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hardware.core.bridge_config import (
    BridgeConfig,
    BridgeCounters,
    BridgeStatus,
    CommandSink,
    StepResult,
)
from hardware.core.clock import Clock, MonotonicClock
from hardware.core.errors import (
    DeviceAlreadyConnectedError,
    DeviceNotConnectedError,
    EStopActiveError,
    MessageError,
    SafetyLimitError,
    StaleDataError,
)
from hardware.core.observation import ObservationBuilder, joint_velocity
from hardware.core.recorder import EpisodeRecorder
from hardware.core.reward_hook import RewardHook
from hardware.core.safety import (
    CommandLimiter,
    EStop,
    Freshness,
    FreshnessGate,
    WorkspaceGuard,
    implausible_joint_state,
)
from hardware.core.samples import ImageSample, JointCommand, JointStateSample
from hardware.core.sync import ApproximateTimeSync, SyncedSet
from hardware.robots import get_robot
from hardware.robots.base import RobotConfig
from hardware.ros.messages import DIAG_ERROR, DIAG_OK, DIAG_WARN, DiagnosticEntry
from sim.controller import EEDeltaController

log = logging.getLogger(__name__)

__all__ = ["Bridge", "BridgeConfig", "BridgeCounters", "BridgeStatus", "CommandSink", "StepResult"]

JOINT_STATES = "joint_states"
#: Finished episodes kept in memory (frames are large; the store keeps every one).
KEEP_EPISODES = 16
Policy = Callable[[dict], Any]


class Bridge:
    """Runs a policy on a robot through the shared controller and the safety layer.

    Args:
        robot: A :class:`RobotConfig` or a registered robot name.
        policy: ``obs -> action``: 3 end-effector deltas and a gripper command in [-1, 1].
        sink: Receives every command sent.
        config: Bridge settings.
        clock: Control clock (monotonic by default; a ``FakeClock`` in tests).
        reward_fn: Optional reward model (``potential(obs)`` and/or ``reward(obs, action)``,
            and ``success_probability(obs)``, logged per :attr:`BridgeConfig.log_success`).
        success_fn: Optional ``obs -> bool`` marking success (ends the episode, terminated).
        bag: Optional session log (:class:`hardware.ros.rosbag_record.BagRecorder`): sees every
            accepted sample, command sent, step and episode boundary; its owner closes it.
    """

    # The latest accepted joint state and synchronized set (`_reset_streams` clears them).
    _js: JointStateSample | None
    _js_stamp: float
    _js_arrival: float | None
    _synced: SyncedSet | None

    def __init__(
        self,
        robot: RobotConfig | str,
        policy: Policy,
        sink: CommandSink,
        *,
        config: BridgeConfig | None = None,
        clock: Clock | None = None,
        reward_fn: Any = None,
        success_fn: Callable[[dict], bool] | None = None,
        bag: Any = None,
    ):
        self.robot = get_robot(robot) if isinstance(robot, str) else robot
        self.config = config or BridgeConfig()
        cfg = self.config
        cams = cfg.cameras if cfg.cameras is not None else tuple(c.name for c in self.robot.cameras)
        known = {c.name for c in self.robot.cameras}
        unknown = [c for c in cams if c not in known]
        if unknown:
            raise ValueError(f"cameras {unknown} not in robot {self.robot.name}: {sorted(known)}")
        self.cameras = tuple(cams)
        self.policy = policy
        self.sink = sink
        self.clock = clock or MonotonicClock()
        self.reward = RewardHook(reward_fn)
        if cfg.log_success and not self.reward.has_success_probability:
            raise ValueError(
                f"log_success=True, but the reward model {reward_fn!r} gives no success "
                "probability (it needs a blob with a PRM success head and the PRM file as its "
                "encoder)"
            )
        # None: log P(success) whenever the model gives it (BridgeConfig.log_success).
        self._log_success = self.reward.has_success_probability and cfg.log_success is not False
        self.success_fn = success_fn
        self.bag = bag
        self._bag_episode_start: float | None = None
        self.status = BridgeStatus.DISCONNECTED
        self.counters = BridgeCounters()
        self.sent: deque[JointCommand] = deque(maxlen=cfg.log_size)
        self.estop_latch = EStop()
        # The last finished episodes (all of them are on disk when episode_dir is set).
        self.episodes: deque = deque(maxlen=KEEP_EPISODES)
        self.last_error: Exception | None = None
        self.last_reasons: tuple[str, ...] = ()
        self._fault: str | None = None
        self._running = False
        self._recorder: EpisodeRecorder | None = None
        self.last_episode = None  # the episode the last end produced (None: no full step)

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self.status is not BridgeStatus.DISCONNECTED

    def connect(self) -> None:
        """Builds the controller, the safety layer and the synchronizer for the robot.

        Raises:
            DeviceAlreadyConnectedError: when already connected.
            ValueError: for a robot the shared controller has no kinematics for.
        """
        if self.is_connected:
            raise DeviceAlreadyConnectedError(f"bridge for {self.robot.name} already connected")
        cfg, robot = self.config, self.robot
        self.controller = EEDeltaController(robot.robot_spec(), cfg.controller)
        tcp = self._tcp_position
        self.observations = ObservationBuilder(
            robot.arm_joints, robot.gripper_joints, tcp, self.cameras, cfg.size
        )
        lim = robot.limits
        self.limiter = CommandLimiter(
            lim.lower,
            lim.upper,
            lim.velocity,
            lim.acceleration,
            cfg.safety,
            cfg.period,
            WorkspaceGuard(tcp, cfg.safety.workspace_low, cfg.safety.workspace_high),
        )
        self.gate = FreshnessGate(cfg.safety, cfg.period)
        self._reset_streams()
        self.status = BridgeStatus.IDLE

    def disconnect(self) -> None:
        """Stops a running episode and releases everything; safe to call twice."""
        if self._running:
            self.stop("disconnect")
        self.status = BridgeStatus.DISCONNECTED

    def __enter__(self) -> Bridge:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()

    def start(self) -> None:
        """Starts an episode: motion resumes from the measured position once data is fresh.

        Raises:
            DeviceNotConnectedError: before ``connect()``.
            EStopActiveError: while the e-stop is latched.
        """
        self._require_connected()
        self.estop_latch.check()
        if self._fault is not None:
            raise SafetyLimitError(f"fault latched ({self._fault}); call clear_fault() first")
        if self._running:
            self.stop("restarted")
        self.limiter.reset()
        self.gate.start(self.clock.now())
        self._running = True
        self._recorder = EpisodeRecorder(self.cameras, self._metadata())
        self._counts_at_start = self._safety_counts()
        self.last_episode = None
        self.status = BridgeStatus.WAITING

    def stop(self, reason: str = "stopped") -> Any:
        """Ends the episode (truncated); returns it (None if it had no complete step)."""
        return self._end_episode(terminated=False, reason=reason)

    # --- inputs -----------------------------------------------------------------------------
    def on_joint_state(self, sample: JointStateSample, arrival: float | None = None) -> None:
        """Feeds a joint state. Not thread-safe: call it from the loop that calls ``step()``.

        Raises:
            DeviceNotConnectedError: before ``connect()``.
        """
        self._require_connected()
        need = self.robot.arm_joints + self.robot.gripper_joints
        if not set(need) <= set(sample.names):
            self.reject(MessageError(f"joint state lacks {sorted(set(need) - set(sample.names))}"))
            return
        arrival = self.clock.now() if arrival is None else arrival
        raw = sample  # the bag keeps what the driver sent, not the finite differences
        if sample.velocity is None:  # drivers without velocities: finite differences
            sample = replace(sample, velocity=joint_velocity(sample, self._js))
        problem = implausible_joint_state(self.robot, sample)
        if problem:
            self.reject(MessageError(f"implausible joint state: {problem}"))
            return
        if self.bag is not None:
            self.bag.on_joint_state(raw)
        if sample.stamp > self._js_stamp:
            self._js = sample
            self._js_stamp, self._js_arrival = sample.stamp, arrival
        self._offer(JOINT_STATES, sample.stamp, (sample, arrival))

    def on_image(self, camera: str, sample: ImageSample, arrival: float | None = None) -> None:
        """Feeds a decoded frame of ``camera`` (others are ignored); same rules as
        :meth:`on_joint_state`."""
        self._require_connected()
        if camera not in self.cameras:
            return
        if not sample.is_color:
            self.reject(MessageError(f"camera {camera!r}: {sample.encoding} frame is not RGB"))
            return
        if self.bag is not None:
            self.bag.on_image(camera, sample)
        self._offer(
            camera, sample.stamp, (sample, self.clock.now() if arrival is None else arrival)
        )

    # --- control ----------------------------------------------------------------------------
    def get_observation(self) -> dict[str, np.ndarray]:
        """The observation from the latest synchronized set, recorded as the current one.

        Raises:
            DeviceNotConnectedError, StaleDataError: without fresh, complete data.
        """
        self._require_connected()
        verdict = self._assess()
        if verdict.state is not Freshness.FRESH:
            raise StaleDataError(f"{verdict.state.value}: {'; '.join(verdict.reasons)}")
        return self._observe()

    def send_action(self, action) -> JointCommand:
        """Sends ``action`` through controller and safety; returns the command sent.

        A non-finite or misshapen action, or a target the limits refuse, sends a hold (the
        previous command) instead.

        Raises:
            DeviceNotConnectedError: before ``connect()``.
            EStopActiveError: while the e-stop is latched (nothing is sent).
            StaleDataError: under a fault or without a joint state (nothing is sent).
            SafetyLimitError: when no command may be sent at all (no previous command to
                hold, or the arm is outside its limits less the margin).
        """
        self._require_connected()
        self.estop_latch.check()
        if self._fault is not None:
            raise StaleDataError(f"fault latched ({self._fault}); nothing is published")
        verdict = self._assess()
        if verdict.state is Freshness.FAULT:
            self._fault_now(StaleDataError("; ".join(verdict.reasons)))
            raise StaleDataError(f"fault: {'; '.join(verdict.reasons)}; nothing is published")
        if verdict.state is Freshness.WAITING:
            raise StaleDataError(f"no motion yet: {'; '.join(verdict.reasons)}")
        if verdict.state is Freshness.STALE:
            cmd = self.limiter.hold()
            if cmd is None:
                raise StaleDataError(f"stale data and nothing to hold: {verdict.reasons}")
            return self._publish(cmd, self._last_gripper, True, (*verdict.reasons, "hold"))
        assert self._js is not None  # the gate is not WAITING, so a joint state arrived
        q = self._js.select(self.robot.arm_joints)[0]
        a = np.asarray(action, dtype=np.float64) if _numeric(action) else None
        if a is None or a.shape != (EEDeltaController.action_dim,) or not np.isfinite(a).all():
            cmd = self.limiter.hold()
            reasons = (f"policy action {action!r} is not 4 finite numbers", "hold")
            if cmd is None:
                raise SafetyLimitError(f"{reasons[0]} and there is no command to hold")
            return self._publish(cmd, self._last_gripper, True, reasons)
        target = self.controller.command(q, a)
        cmd, reasons = self.limiter.limit(target.arm, q)
        if cmd is None:
            raise SafetyLimitError(f"no command may be sent: {'; '.join(reasons)}")
        gripper = None
        if self.robot.gripper is not None and self.robot.gripper.command_topic is not None:
            gripper = min(max(target.finger, 0.0), self.robot.gripper.open_position)
        hold = "hold" in reasons
        return self._publish(cmd, self._last_gripper if hold else gripper, hold, reasons)

    def step(self) -> StepResult:
        """One control period (see the module docstring); never raises for data or safety
        problems: they are in the result's ``status``, ``reasons`` and ``error``."""
        if not self.is_connected:
            return StepResult(BridgeStatus.DISCONNECTED)
        if not self._running:
            return StepResult(self.status)
        self.counters.steps += 1
        if self.estop_latch.active:
            err = EStopActiveError(f"e-stop latched ({self.estop_latch.reason})")
            return self._result(BridgeStatus.ESTOP, (self.estop_latch.reason,), err)
        verdict = self._assess()
        if verdict.state is Freshness.WAITING:
            return self._result(BridgeStatus.WAITING, verdict.reasons)
        if verdict.state is Freshness.FAULT:
            return self._fault_now(StaleDataError("; ".join(verdict.reasons)))
        if verdict.state is Freshness.STALE:
            return self._hold(verdict.reasons)
        t0 = time.perf_counter()
        obs = self._observe()
        if not self._running:  # the observation ended the episode (success, max steps)
            return StepResult(self.status, reasons=self.last_reasons)
        potential, p_success = self._recorder_potential, self._recorder_success
        try:
            action = self.policy(obs)
        except Exception as e:  # a failing policy holds the arm and is reported
            self.counters.policy_errors += 1
            log.exception("policy failed; holding")
            return self._hold((f"policy raised {type(e).__name__}: {e}",), error=e)
        try:
            command = self.send_action(action)
        except (SafetyLimitError, StaleDataError) as e:
            # Nothing was sent: the limits refused every target, or the data went stale (or
            # faulted) while the policy ran; send_action re-checks freshness at send time.
            status = BridgeStatus.FAULT if self._fault is not None else BridgeStatus.DEGRADED
            return self._result(status, (str(e),), e)
        latency = time.perf_counter() - t0
        ok = _numeric(action) and np.shape(action) == (4,) and np.isfinite(action).all()
        zero = np.zeros(EEDeltaController.action_dim, dtype=np.float32)
        recorded = np.clip(np.asarray(action, dtype=np.float32), -1, 1) if ok else zero
        reward = self.reward.reward(obs, recorded) if ok else None
        if self._recorder is not None:
            self._recorder.act(recorded, reward, held=command.hold)
        if self.bag is not None:
            self._bag_step(recorded, reward, potential, p_success)
        status = BridgeStatus.DEGRADED if command.hold else BridgeStatus.OK
        self.status = status
        self.last_reasons = command.reasons
        return StepResult(
            status, command, recorded, command.reasons, None, latency, potential, reward, p_success
        )

    def run(self, max_steps: int | None = None, spin: Callable[[], None] | None = None):
        """Steps at the control rate until the episode ends (or ``max_steps`` periods).

        Args:
            max_steps: Control periods at most (None: until the episode ends).
            spin: Called before every step; adapters use it to take pending messages.

        Returns:
            The episode this run ended, or None (no complete step, or still running).
        """
        period = self.config.period
        next_t = self.clock.now()
        n = 0
        while self._running and (max_steps is None or n < max_steps):
            if spin is not None:
                spin()
            self.step()
            n += 1
            next_t += period
            now = self.clock.now()
            if now > next_t + period:  # fell behind: skip the missed periods, count them
                self.counters.overruns += 1
                next_t = now
            self.clock.sleep_until(next_t)
        return self.last_episode

    # --- safety controls --------------------------------------------------------------------
    def estop(self, reason: str = "e-stop") -> None:
        """Latches the e-stop: nothing is published until :meth:`reset_estop`."""
        self.estop_latch.trigger(reason)
        log.error("e-stop: %s", reason)
        self._end_episode(terminated=False, reason=f"e-stop: {reason}")
        self.status = BridgeStatus.ESTOP

    def reset_estop(self) -> None:
        """Releases the e-stop; ``start()`` an episode to move again."""
        self.estop_latch.reset()
        if self.is_connected:
            self.limiter.reset()
            self.status = BridgeStatus.FAULT if self._fault is not None else BridgeStatus.IDLE

    def clear_fault(self) -> None:
        """Clears a latched fault; ``start()`` a new episode afterwards."""
        self._fault = None
        if self.is_connected and self.status is BridgeStatus.FAULT:
            self.status = BridgeStatus.IDLE

    def diagnostics(self, extra: dict[str, str] | None = None) -> DiagnosticEntry:
        """The bridge's state as one ``diagnostic_msgs/DiagnosticStatus``: OK, WARN when
        waiting or degraded, ERROR under a fault or the e-stop."""
        level = {
            BridgeStatus.OK: DIAG_OK,
            BridgeStatus.IDLE: DIAG_OK,
            BridgeStatus.WAITING: DIAG_WARN,
            BridgeStatus.DEGRADED: DIAG_WARN,
        }.get(self.status, DIAG_ERROR)
        c = self.counters
        values = {
            "status": self.status.value,
            "commands": str(c.commands),
            "holds": str(c.holds),
            "rejected_messages": str(c.rejected_messages),
            "policy_errors": str(c.policy_errors),
            "overruns": str(c.overruns),
            "fault": self._fault or "",
            "estop": self.estop_latch.reason or "",
            **(extra or {}),
        }
        return DiagnosticEntry(
            name=f"robopref_bridge: {self.robot.name}",
            level=level,
            message="; ".join(self.last_reasons) or self.status.value,
            hardware_id=self.robot.name,
            values=values,
        )

    @property
    def running(self) -> bool:
        """True while an episode runs (between ``start()`` and its end)."""
        return self._running

    @property
    def fault(self) -> str | None:
        return self._fault

    @property
    def joint_state_arrival(self) -> float | None:
        """Bridge-clock arrival of the newest joint state (None before the first)."""
        return self._js_arrival if self.is_connected else None

    # --- internals --------------------------------------------------------------------------
    def _tcp_position(self, q: np.ndarray) -> np.ndarray:
        return self.controller.tcp_pose(q)[:3, 3]

    def _require_connected(self) -> None:
        if not self.is_connected:
            raise DeviceNotConnectedError(f"bridge for {self.robot.name} is not connected")

    def _reset_streams(self) -> None:
        cfg = self.config
        self.sync = ApproximateTimeSync((JOINT_STATES, *self.cameras), cfg.slop, cfg.sync_queue)
        self._js = None
        self._js_stamp = -np.inf
        self._js_arrival = None
        self._synced = None
        self._last_gripper: float | None = None
        self._recorder_potential: float | None = None
        self._recorder_success: float | None = None

    def _offer(self, stream: str, stamp: float, item) -> None:
        synced = self.sync.add(stream, stamp, item)
        if synced is not None:
            self._synced = synced

    def reject(self, error: Exception) -> None:
        """Counts a message an adapter (or this bridge) refused, keeping the error."""
        self.counters.rejected_messages += 1
        self.last_error = error
        log.debug("rejected: %s", error)

    def _assess(self):
        s = self._synced
        frames = {c: (s.items[c][1] if s is not None else None) for c in self.cameras}
        return self.gate.assess(self.clock.now(), self._js_arrival, frames)

    def _observe(self) -> dict[str, np.ndarray]:
        s = self._synced
        assert s is not None  # the gate passed, so a synchronized set exists
        js, _ = s.items[JOINT_STATES]
        obs = self.observations.build(js, js.velocity, {c: s.items[c][0] for c in self.cameras})
        self._recorder_potential = self.reward.potential(obs)
        self._recorder_success = self.reward.success_probability(obs) if self._log_success else None
        rec = self._recorder
        if rec is not None and self._running:
            success = bool(self.success_fn(obs)) if self.success_fn is not None else False
            rec.observe(obs, js.stamp, success, self._recorder_potential, self._recorder_success)
            if success:
                self._end_episode(terminated=True, reason="success")
            elif self.config.max_steps is not None and rec.steps >= self.config.max_steps:
                self._end_episode(terminated=False, reason="max_steps")
        return obs

    def _publish(self, positions, gripper, hold: bool, reasons) -> JointCommand:
        cmd = JointCommand(
            stamp=self.clock.now(),
            names=self.robot.arm_joints,
            positions=np.asarray(positions, dtype=np.float64),
            gripper=gripper,
            hold=hold,
            reasons=tuple(reasons),
        )
        self.sink.send(cmd)
        if self.bag is not None:
            self.bag.on_command(cmd)
        self.sent.append(cmd)
        self.counters.commands += 1
        if hold:
            self.counters.holds += 1
            # Ages and values vary; count the kind: the first two words ("joint state", ...).
            self.counters.hold_reasons.update({" ".join(r.split()[:2]) for r in reasons})
        if gripper is not None:
            self._last_gripper = gripper
        log.debug("sent %s hold=%s reasons=%s", cmd.positions, hold, reasons)
        return cmd

    def _hold(self, reasons, error: Exception | None = None) -> StepResult:
        positions = self.limiter.hold()
        cmd = None
        if positions is not None:
            cmd = self._publish(positions, self._last_gripper, True, (*reasons, "hold"))
        return self._result(BridgeStatus.DEGRADED, tuple(reasons), error, cmd)

    def _fault_now(self, error: Exception) -> StepResult:
        self._fault = str(error)
        self.last_error = error
        log.error("fault, publishing stopped: %s", error)
        self._end_episode(terminated=False, reason=f"fault: {error}")
        return self._result(BridgeStatus.FAULT, (str(error),), error)

    def _result(self, status, reasons, error=None, command=None) -> StepResult:
        self.status = status
        self.last_reasons = tuple(r for r in reasons if r)
        if error is not None:
            self.last_error = error
        return StepResult(status, command, reasons=self.last_reasons, error=error)

    def _metadata(self) -> dict:
        cfg = self.config
        return {
            "task": cfg.task,
            "source": cfg.source,
            "backend": cfg.backend,
            "seed": None,
            "robot": self.robot.name,
            "control_hz": cfg.control_hz,
            "bridge": {
                "driver": self.robot.driver,
                "cameras": list(self.cameras),
                "image_size": list(cfg.size),
                "slop": cfg.slop,
            },
        }

    def _bag_step(self, action: np.ndarray, reward, potential, p_success) -> None:
        # Logged at the observation's stamp (the robot's clock), so that an import pairs
        # the action with the observation it was taken on (hardware.ros.rosbag_record).
        assert self._synced is not None  # called after _observe
        stamp = self._synced.items[JOINT_STATES][0].stamp
        if self._bag_episode_start is None:
            self._bag_episode_start = stamp
            self.bag.on_episode(stamp, True)
        self.bag.on_step(stamp, action, reward, potential, p_success)

    def _safety_counts(self) -> dict[str, int]:
        c, sc = self.counters, self.sync.counters
        return {
            "commands": c.commands,
            "holds": c.holds,
            "rejected_messages": c.rejected_messages,
            "policy_errors": c.policy_errors,
            "sync_duplicates": sc.duplicate,
            "sync_out_of_order": sc.out_of_order,
        }

    def _end_episode(self, *, terminated: bool, reason: str):
        if not self._running:
            return None
        self._running = False
        rec, self._recorder = self._recorder, None
        ep = None
        if rec is not None:
            now = self._safety_counts()
            extra = {
                "stop_reason": reason,
                "safety": {k: now[k] - self._counts_at_start[k] for k in now},
            }
            try:
                ep = rec.finish(terminated=terminated, truncated=not terminated, extra=extra)
            except ValueError as e:  # the episode is lost, the control loop is not
                self.last_error = e
                log.error("episode could not be assembled: %s", e)
        self.last_episode = ep
        if self._bag_episode_start is not None:
            end = float(ep.timestamp[-1]) if ep is not None else self._bag_episode_start
            self.bag.on_episode(end, False)
            self._bag_episode_start = None
        if ep is not None:
            self.episodes.append(ep)
            if self.config.episode_dir is not None:
                from robopref.data import EpisodeStore

                path = EpisodeStore(Path(self.config.episode_dir)).save(ep)
                log.info("episode %s (%d steps) saved to %s", ep.episode_id, ep.length, path)
        if self.estop_latch.active:
            self.status = BridgeStatus.ESTOP
        elif self._fault is not None:
            self.status = BridgeStatus.FAULT
        else:
            self.status = BridgeStatus.IDLE
        self.last_reasons = (reason,)
        return ep


def _numeric(x) -> bool:
    try:
        return np.asarray(x).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False
