"""``robopref bench bridge``: observation-to-command latency and control jitter of the bridge.

One JSON line per transport:
``{"transport", "control_hz", "seconds", "steps", "latency_ms_p50", "latency_ms_p99",
"jitter_ms_p99", "holds", "evaluator", ...}``.

* ``inproc``: the bridge core (:class:`hardware.core.bridge.Bridge`, its own ``run`` loop on the
  monotonic clock) and the MuJoCo stand-in (:class:`hardware.standin.sim_robot.SimRobot`) in this
  process, wired by :class:`hardware.standin.sim_robot.InProcessLink`;
* ``dds``: the stand-in in a child process (``python -m hardware.standin.sim_robot``) and the bridge
  here on :class:`hardware.ros.dds_adapter.BridgeDdsAdapter`, over Cyclone DDS confined to the
  loopback interface, in a random domain. The child runs on the other cores (when the
  machine has some): it stands in for a robot, not for a second load on the bridge's core.

The policy is the state-only ``reach`` built-in toward the episode's goal, and a default
(untrained: its cost does not depend on the weights) state preference ensemble exported to
the C evaluator is the bridge's reward model, evaluated every step (``evaluator: true``,
through ``hardware.core.reward_hook.EvaluatorRewardModel`` where that exists:
``evaluator_adapter``).

Measured from outside the bridge (wrapped callables and the timestamps it keeps):

* ``latency_ms``: from the arrival at the bridge of the newest joint state an action was
  computed from (its ``on_joint_state`` call in process; its take from DDS, as the adapter
  stamps it) to the command sink returning (the command handed to the link, or written to
  DDS). ``compute_ms`` is the part from the control period's ``step()`` call, ``wait_ms``
  the part before it: the state's age when the period began. Over DDS the stand-in
  publishes on its own ``state_hz`` schedule; on the plain timer (``state_lock: false``)
  ``wait_ms`` is mostly the phase between that schedule and the control period's (up to
  one state period), while with the adapter's state lock (the default,
  ``hardware.core.clock.StatePhaseLock``) a period runs on the first state at or after its tick,
  so the state has waited at most the lock's window (2 ms). In process the state is pumped
  at the period's start, so it is ~0. The bridge evaluates the
  reward after the command is out, so it is not in ``latency_ms``; ``loop_ms`` runs from
  the same arrival to the end of ``step()``, the evaluator included, and ``evaluator_us``
  times its calls alone.
* ``jitter_ms_p99``: the 99th percentile of ``|actual period - ideal period|`` between
  consecutive control-period starts (in process: the loop waking up; over DDS: the
  ``step()`` call after the adapter's last take).
* ``js_delay_ms`` (DDS): one-way joint-state delay, reception minus the writer's source
  timestamp, as the adapter records it.
* ``policy_blob_us`` (with ``policy_blob``, the default): one call of an exported policy
  blob as ``--policy-blob`` runs it (:class:`hardware.policies.blob.BlobPolicy`: the C
  evaluator's normalization, MLP and action map, plus its Python wrapper), on each period's
  observation, timed after ``step()`` returns so that it is in no other figure. The policy is
  a default untrained one of the learners' default size (256, 256; its cost does not depend
  on the weights) in the robot's state layout; ``reach`` still drives the arm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from robopref.benchmarks.sim import pin_to_one_core

TRANSPORTS = ("inproc", "dds")
ROBOT = "panda_mujoco"
TASK = "panda-reach"
WARMUP_S = 1.0  # run before the measured steps (allocators, caches, DDS queues)
STARTUP_TIMEOUT_S = 60.0  # child start-up (MuJoCo, discovery) until its first joint state
ROOT = Path(__file__).resolve().parents[2]


class TimedReward:
    """The bridge's reward model, its ``reward`` calls timed.

    Wraps the bridge's evaluator adapter (``hardware.core.reward_hook.EvaluatorRewardModel``)
    where it exists; otherwise calls the evaluator's preference head on ``obs["state"]``.
    """

    def __init__(self, evaluator: Any):
        self._reward: Callable[[dict, Any], float]
        try:
            from hardware.core.reward_hook import EvaluatorRewardModel
        except ImportError:
            self.adapter = "benchmark"
            self._reward = lambda obs, action: evaluator.reward(obs["state"])[0]
        else:
            self.adapter = "hardware.core.reward_hook.EvaluatorRewardModel"
            # Set (not None): the evaluator has the preference head it calls.
            self._reward = cast(
                Callable[[dict, Any], float],
                EvaluatorRewardModel(evaluator, robot=ROBOT, cameras=()).reward,
            )
        self.times: list[float] = []

    def reward(self, obs: dict, action: Any) -> float:
        t0 = time.perf_counter()
        value = self._reward(obs, action)
        self.times.append(time.perf_counter() - t0)
        return value


def default_evaluator(obs_dim: int, directory: str | os.PathLike[str]) -> Any:
    """A default state preference ensemble of ``obs_dim`` exported to a blob and loaded."""
    from robopref.evaluator import Evaluator, export_blob
    from robopref.rewards.preference import PreferenceRewardConfig, PreferenceRewardModel

    model = PreferenceRewardModel(obs_dim, config=PreferenceRewardConfig(input="state"))
    path = export_blob(Path(directory) / "bridge_bench.rpe", preference=model.numpy_head())
    return Evaluator.load(path)


class _Probe:
    """The bridge's command sink (forwarding to ``sink``) and timestamps taken around its
    policy and step; read into a row by `_row`."""

    def __init__(self, clock, sink):
        self.clock, self.sink = clock, sink
        self.bridge: Any = None  # the bridge, once attached
        self.recording = False
        self.policy_ran = False
        self.step_t = 0.0
        self.sent_at: float | None = None
        self.arrival: float | None = None
        self.starts: list[float] = []
        self.latency: list[float] = []  # arrival -> command out
        self.compute: list[float] = []  # step() call -> command out
        self.loop: list[float] = []  # arrival -> step() returns (reward evaluated)
        self.blob = None  # a policy blob timed on each period's observation, or None
        self.blob_times: list[float] = []
        self.obs = None

    def attach(self, bridge) -> None:
        """Wraps ``bridge``'s policy and step (instance attributes; the class is untouched)."""
        self.bridge, clock = bridge, self.clock
        policy, step = bridge.policy, bridge.step

        def timed_policy(obs):
            self.policy_ran, self.obs = True, obs
            return policy(obs)

        def timed_step():
            self.policy_ran, self.sent_at = False, None
            self.step_t = clock.now()
            result = step()
            end = clock.now()
            if self.recording and self.sent_at is not None:
                self.latency.append(self.sent_at - self.arrival)
                self.compute.append(self.sent_at - self.step_t)
                self.loop.append(end - self.arrival)
                if self.blob is not None:  # after `end`: in no other figure
                    t0 = time.perf_counter()
                    self.blob(self.obs)
                    self.blob_times.append(time.perf_counter() - t0)
            return result

        bridge.policy, bridge.step = timed_policy, timed_step

    def send(self, command) -> None:
        """The bridge's command sink: forwards, then notes when a policy command is out."""
        self.sink.send(command)
        if self.policy_ran:
            self.sent_at = self.clock.now()
            # The state the observation was built from, as the bridge stamped its arrival.
            self.arrival = self.bridge._synced.items["joint_states"][1]

    def mark_start(self) -> None:
        if self.recording:
            self.starts.append(self.clock.now())

    def start_recording(self) -> None:
        self.recording = True
        self.counts = _counts(self.bridge)
        self.hold_reasons = self.bridge.counters.hold_reasons.copy()


def _counts(bridge) -> dict[str, int]:
    c = bridge.counters
    return {"steps": c.steps, "commands": c.commands, "holds": c.holds, "overruns": c.overruns}


def _ms(values, q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1e3, 4) if len(values) else None


def _us(values, q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1e6, 2) if len(values) else None


def default_policy_blob(directory: str | os.PathLike[str]) -> Any:
    """A default (untrained) state policy of the learners' default size in the bench robot's
    state layout, exported to a blob and loaded as ``--policy-blob`` loads one."""
    from hardware.core.observation import robot_state_layout, state_dim
    from hardware.policies.blob import load_policy_blob
    from hardware.robots import get_robot
    from robopref.evaluator import export_blob
    from robopref.evaluator.heads import random_policy_head

    robot = get_robot(ROBOT)
    head = random_policy_head(
        np.random.default_rng(0),
        state_dim(robot.n_arm),
        hidden=(256, 256),
        layout=robot_state_layout(robot),
        task=TASK,
        robot=cast(str, robot.kinematics),  # the bench robot has kinematics
    )
    return load_policy_blob(export_blob(Path(directory) / "bridge_policy.rpe", policy=head), robot)


def _row(transport: str, probe: _Probe, reward, control_hz: float, cameras, wall: float) -> dict:
    bridge = probe.bridge
    now, before = _counts(bridge), probe.counts
    diff = {k: now[k] - before[k] for k in now}
    periods = np.diff(probe.starts)
    jitter = np.abs(periods - 1.0 / control_hz)
    ev = reward.times if reward is not None else []
    return {
        "transport": transport,
        "control_hz": control_hz,
        "seconds": round(wall, 3),
        "steps": diff["steps"],
        "latency_ms_p50": _ms(probe.latency, 50),
        "latency_ms_p99": _ms(probe.latency, 99),
        "jitter_ms_p99": _ms(jitter, 99),
        "holds": diff["holds"],
        "evaluator": reward is not None,
        "latency_ms_max": _ms(probe.latency, 100),
        "compute_ms_p50": _ms(probe.compute, 50),
        "compute_ms_p99": _ms(probe.compute, 99),
        "wait_ms_p50": _ms(np.subtract(probe.latency, probe.compute), 50),
        "wait_ms_p99": _ms(np.subtract(probe.latency, probe.compute), 99),
        "loop_ms_p99": _ms(probe.loop, 99),
        "evaluator_us_p50": round(float(np.median(ev)) * 1e6, 2) if ev else None,
        "evaluator_adapter": reward.adapter if reward is not None else None,
        "policy_blob_us_p50": _us(probe.blob_times, 50),
        "policy_blob_us_p99": _us(probe.blob_times, 99),
        "policy_blob_sizes": list(probe.blob.info["sizes"]) if probe.blob else None,
        "jitter_ms_max": _ms(jitter, 100),
        "policy_commands": len(probe.latency),
        "commands": diff["commands"],
        "overruns": diff["overruns"],
        "hold_reasons": dict(bridge.counters.hold_reasons - probe.hold_reasons),
        "cameras": list(cameras),
    }


def _bridge(control_hz: float, cameras, sink, policy, reward, clock):
    from hardware.core.bridge import Bridge, BridgeConfig

    config = BridgeConfig(task=TASK, control_hz=control_hz, cameras=tuple(cameras))
    return Bridge(ROBOT, policy, sink, config=config, clock=clock, reward_fn=reward)


def _reward(evaluator: bool, directory: str):
    from hardware.core.observation import state_dim
    from hardware.robots import get_robot

    if not evaluator:
        return None
    return TimedReward(default_evaluator(state_dim(get_robot(ROBOT).n_arm), directory))


def _inproc(
    seconds, control_hz, state_hz, cameras, seed, evaluator, directory, policy_blob=True
) -> dict:
    from hardware.core.clock import MonotonicClock
    from hardware.policies.scripted import GoalReachPolicy
    from hardware.standin.sim_robot import InProcessLink, SimRobot

    clock = MonotonicClock()
    robot = SimRobot(TASK, robot=ROBOT, seed=seed, cameras=tuple(cameras), state_rate_hz=state_hz)
    try:
        reward = _reward(evaluator, directory)
        probe = _Probe(clock, InProcessLink(robot, 1.0 / control_hz))
        probe.blob = default_policy_blob(directory) if policy_blob else None
        link = probe.sink
        bridge = _bridge(control_hz, cameras, probe, GoalReachPolicy(robot.goal), reward, clock)
        probe.attach(bridge)
        on_joint_state = bridge.on_joint_state

        def on_joint_state_now(sample, arrival=None):  # stamp the true arrival, after physics
            on_joint_state(sample, clock.now())

        bridge.on_joint_state = on_joint_state_now

        def spin():  # the loop woke up: a period starts; the robot publishes what is due
            probe.mark_start()
            link.pump(bridge, clock.now())

        with bridge:
            bridge.start()
            bridge.run(max_steps=max(1, round(WARMUP_S * control_hz)), spin=spin)
            if reward is not None:
                reward.times.clear()
            probe.start_recording()
            t0 = clock.now()
            bridge.run(max_steps=max(1, round(seconds * control_hz)), spin=spin)
            wall = clock.now() - t0
            row = _row("inproc", probe, reward, control_hz, cameras, wall)
            row["fault"] = bridge.fault
    finally:
        robot.close()
    return row


def _other_cores() -> set[int] | None:
    """The cores this process is not pinned to, for the child robot (None: no such core)."""
    mine = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if not mine:
        return None
    try:
        allowed = os.sched_getaffinity(1)  # before pinning, or the container's cores
    except OSError:
        allowed = set(range(os.cpu_count() or 1))
    return (allowed - mine) or None


@contextlib.contextmanager
def _loopback_env():
    from hardware.ros.dds_adapter import loopback_config

    old = os.environ.get("CYCLONEDDS_URI")
    os.environ["CYCLONEDDS_URI"] = loopback_config()
    try:
        yield os.environ["CYCLONEDDS_URI"]
    finally:
        if old is None:
            os.environ.pop("CYCLONEDDS_URI", None)
        else:
            os.environ["CYCLONEDDS_URI"] = old


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stops the child: SIGTERM (its clean exit), then SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _dds(
    seconds,
    control_hz,
    state_hz,
    cameras,
    seed,
    evaluator,
    directory,
    state_lock=True,
    policy_blob=True,
) -> dict:
    from hardware.core.clock import MonotonicClock
    from hardware.policies.scripted import GoalReachPolicy
    from hardware.robots import get_robot
    from hardware.ros.dds_adapter import BridgeDdsAdapter, DdsCommandSink, DdsNode, DelayStats
    from hardware.standin.sim_robot import SimRobot

    robot = SimRobot(TASK, robot=ROBOT, seed=seed, cameras=())
    goal = robot.goal.copy()  # the child places the same goal from the same seed
    robot.close()
    reward = _reward(evaluator, directory)
    clock = MonotonicClock()
    domain = random.SystemRandom().randint(1, 230)
    warmup = max(1, round(WARMUP_S * control_hz))
    steps = max(1, round(seconds * control_hz))
    duration = STARTUP_TIMEOUT_S + 2 * (warmup + steps) / control_hz + 30
    cmd = [
        sys.executable,
        "-m",
        "hardware.standin.sim_robot",
        "--task",
        TASK,
        "--robot",
        ROBOT,
        "--seed",
        str(seed),
        "--cameras",
        ",".join(cameras),
        "--state-rate",
        str(state_hz),
        "--domain-id",
        str(domain),
        "--duration",
        f"{duration:.0f}",
        # The stand-in stops `linger` s after the task succeeds even without
        # --until-success (SimRobotNode.run); the reach policy succeeds in about a second.
        "--linger",
        f"{duration:.0f}",
    ]
    cores = _other_cores()
    log_path = Path(directory) / "sim_robot.log"
    row, error = None, None
    with _loopback_env(), open(log_path, "w", encoding="utf-8") as child_log:
        env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=child_log,
            stderr=subprocess.STDOUT,
        )
        if cores:  # before the child starts any thread (they inherit it); no preexec_fn
            with contextlib.suppress(OSError):
                os.sched_setaffinity(proc.pid, cores)
        node = None
        try:
            node = DdsNode(domain)
            probe = _Probe(clock, DdsCommandSink(node, get_robot(ROBOT), 1.0 / control_hz))
            probe.blob = default_policy_blob(directory) if policy_blob else None
            bridge = _bridge(control_hz, cameras, probe, GoalReachPolicy(goal), reward, clock)
            probe.attach(bridge)
            adapter = BridgeDdsAdapter(node, bridge)
            step = bridge.step

            def step_marked():  # over DDS a period starts at the step after the last take
                probe.mark_start()
                return step()

            bridge.step = step_marked
            with bridge:
                _await_data(bridge, adapter, node, proc)
                bridge.start()
                adapter.run(max_steps=warmup, lock_to_state=state_lock)
                if reward is not None:
                    reward.times.clear()
                adapter.delays = DelayStats()
                probe.start_recording()
                t0 = clock.now()
                adapter.run(max_steps=steps, lock_to_state=state_lock)
                wall = clock.now() - t0
                row = _row("dds", probe, reward, control_hz, cameras, wall)
                delay = adapter.delays.percentiles()
                row["js_delay_ms_p50"] = round(delay["p50"] * 1e3, 4) if delay else None
                row["js_delay_ms_p99"] = round(delay["p99"] * 1e3, 4) if delay else None
                row["rejected_messages"] = bridge.counters.rejected_messages
                row["fault"] = bridge.fault
                row["robot_cores"] = sorted(cores) if cores else None
                row["state_lock"] = state_lock
        except Exception as e:  # reported with the child's log once it is stopped
            error = e
        finally:
            if node is not None:
                node.close()
            _stop(proc)
    if error is not None:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"bridge bench over DDS failed: {error}; robot log: {tail}") from error
    assert row is not None  # set unless an error was raised
    return row


def _await_data(bridge, adapter, node, proc) -> None:
    """Takes messages until the stand-in's first complete set arrived (bounded)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while bridge._synced is None:
        if proc.poll() is not None:
            raise RuntimeError(f"stand-in robot exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no data from the stand-in within {STARTUP_TIMEOUT_S:.0f} s")
        if node.wait(0.1):
            adapter.spin()


def bench_bridge(
    transport: str,
    seconds: float = 60.0,
    control_hz: float = 50.0,
    cameras: Sequence[str] = (),
    seed: int = 0,
    evaluator: bool = True,
    state_hz: float = 100.0,
    state_lock: bool = True,
    policy_blob: bool = True,
) -> dict:
    """Runs the bridge for ``seconds`` at ``control_hz`` over ``transport``; one row.

    Call `pin_to_one_core` first for the stated targets (``robopref bench`` does); the DDS
    child is then put on the remaining cores.

    Args:
        transport: ``"inproc"`` or ``"dds"``.
        seconds: measured run length (after a 1 s warm-up that is not counted).
        control_hz: bridge control rate.
        cameras: cameras the stand-in publishes and the policy observation carries.
        seed: episode seed of the stand-in (cube and goal placement).
        evaluator: run the C-evaluator reward model every step.
        state_hz: joint-state rate of the stand-in (its physics steps in these increments).
        state_lock: over DDS, run each period on the first joint state after its tick
            (``BridgeDdsAdapter.run(lock_to_state=True)``, the default) rather than on the
            plain timer.
        policy_blob: time a default policy blob on each period's observation
            (``policy_blob_us``).

    Returns:
        The JSON-ready row described in the module docstring.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; valid: {TRANSPORTS}")
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    args = (float(seconds), float(control_hz), float(state_hz), tuple(cameras), seed, evaluator)
    with tempfile.TemporaryDirectory(prefix="robopref-bench-bridge-") as directory:
        if transport == "inproc":
            row = _inproc(*args, directory, policy_blob=policy_blob)
        else:
            row = _dds(*args, directory, state_lock=state_lock, policy_blob=policy_blob)
    row["state_hz"] = float(state_hz)
    return row


def main(argv: list[str] | None = None) -> int:
    """``python -m robopref.benchmarks.bridge [--transports inproc,dds] [--seconds 60]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--transports", default=",".join(TRANSPORTS), help="inproc and/or dds")
    p.add_argument("--seconds", type=float, default=60.0, help="measured seconds per transport")
    p.add_argument("--control-hz", type=float, default=50.0, help="bridge control rate")
    p.add_argument("--state-hz", type=float, default=100.0, help="stand-in joint-state rate")
    p.add_argument("--cameras", default="", help="comma-separated cameras (default: none)")
    p.add_argument("--no-evaluator", action="store_true", help="no reward model in the loop")
    p.add_argument("--no-policy-blob", action="store_true", help="do not time a policy blob")
    p.add_argument(
        "--no-state-lock",
        action="store_true",
        help="over DDS, step on the plain timer instead of on the first joint state after it",
    )
    args = p.parse_args(argv)
    pin_to_one_core()
    cams = tuple(c for c in args.cameras.split(",") if c)
    for transport in (t for t in args.transports.split(",") if t):
        row = bench_bridge(
            transport,
            args.seconds,
            args.control_hz,
            cams,
            evaluator=not args.no_evaluator,
            state_hz=args.state_hz,
            state_lock=not args.no_state_lock,
            policy_blob=not args.no_policy_blob,
        )
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
