"""A MuJoCo stand-in for a real arm, speaking what a ros2_control driver speaks.

:class:`SimRobot` wraps ``sim.make(task, backend="mujoco")`` but not its ``step``: it
never runs a policy or the controller. Like a ros2_control arm it publishes joint states
(``state_rate_hz``) and camera frames (``camera_rate_hz``) and follows joint position
commands: a ``JointTrajectory`` is interpolated from the current target to its points over
their ``time_from_start`` (joint_trajectory_controller), a forward command applies at once.

Two ways to connect a bridge:

* in process: :class:`InProcessLink` is the bridge's command sink and pumps the robot's
  samples into it through the same message conversions the DDS adapter uses;
  :func:`run_closed_loop` drives both from one (fake) clock, deterministically.
* over Cyclone DDS: :class:`SimRobotNode`, started by :func:`main` (``robopref sim-robot``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence

import mujoco
import numpy as np

from hardware.core.clock import Clock, MonotonicClock
from hardware.core.samples import ImageSample, JointCommand, JointStateSample
from hardware.robots import get_robot
from hardware.robots.base import RobotConfig
from hardware.ros import messages
from hardware.ros.command_io import command_io
from sim.tasks import TaskState

log = logging.getLogger(__name__)


class SimRobot:
    """A Panda task in MuJoCo behaving like a position-controlled arm.

    Args:
        task: A Panda task name (``sim.list_tasks(include_dmc=False)``).
        robot: The robot config it impersonates (topics, joint names, command type).
        seed: Episode seed (cube and goal placement).
        cameras: Cameras to publish (default: the robot config's).
        image_size: Rendered frame size.
        state_rate_hz: Joint state rate; physics advances in these increments.
        camera_rate_hz: Frame rate (a divisor of the state rate).
        stamp_offset: Header stamp of simulation time 0, seconds (> 0: ROS rejects a zero
            stamp). The DDS node sets it to the wall clock, as a real driver's stamps are.
    """

    def __init__(
        self,
        task: str = "panda-reach",
        *,
        robot: RobotConfig | str = "panda_mujoco",
        seed: int | None = 0,
        cameras: Sequence[str] | None = None,
        image_size: int = 84,
        state_rate_hz: float = 100.0,
        camera_rate_hz: float = 20.0,
        stamp_offset: float = 1000.0,
    ):
        import sim

        self.config = get_robot(robot) if isinstance(robot, str) else robot
        if self.config.kinematics != "panda":
            raise ValueError(
                f"the MuJoCo workcell models the Panda; robot {self.config.name!r} is not one"
            )
        cams = tuple(cameras) if cameras is not None else tuple(c.name for c in self.config.cameras)
        self.env = sim.make(
            task, backend="mujoco", cameras=cams, image_size=image_size, state="proprio"
        )
        self.cameras = cams
        self.backend = self.env.backend
        self.model, self.data = self.backend.model, self.backend.data
        spec = self.env.robot
        self.update_dt = 1.0 / state_rate_hz
        self.substeps = max(1, round(self.update_dt / self.model.opt.timestep))
        self.update_dt = self.substeps * self.model.opt.timestep
        self.camera_every = max(1, round(state_rate_hz / camera_rate_hz))
        self.stamp_offset = float(stamp_offset)
        self.joint_names = tuple(self.config.arm_joints) + tuple(self.config.gripper_joints)
        joints = [self.model.joint(n) for n in tuple(spec.arm_joints) + tuple(spec.finger_joints)]
        self._qadr = np.array([j.qposadr[0] for j in joints])
        self._dadr = np.array([j.dofadr[0] for j in joints])
        self.finger_open = spec.finger_open
        self.commands_received = 0
        self.reset(seed)

    # --- episode ----------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """A new episode: arm at home, cube and goal placed by ``seed``."""
        _, info = self.env.reset(seed=seed)
        self.goal = np.asarray(info["privileged"]["goal_pos"], dtype=float)
        self.sim_time = 0.0
        self._t0: float | None = None
        self._updates = 0
        self._target = self.backend.arm_q()
        self._finger = self.finger_open
        self._traj: tuple[float, messages.TrajectoryCommand, np.ndarray] | None = None

    def task_state(self) -> TaskState:
        """Privileged world state (sim only; for the stand-in's own success report)."""
        b = self.backend
        left, right = b.fingers_touch_object()
        return TaskState(
            b.tcp_pos(),
            b.finger_width(),
            b.object_pose()[0],
            b.object_velocity(),
            self.goal,
            bool(left and right),
        )

    def success(self) -> bool:
        return self.env.task.success(self.task_state())

    # --- the ros2_control side --------------------------------------------------------------
    def follow(self, trajectory: messages.TrajectoryCommand) -> None:
        """Starts a trajectory now, from the current target (joint_trajectory_controller)."""
        self.commands_received += 1
        self._traj = (self.sim_time, trajectory, self._target.copy())

    def set_targets(self, positions) -> None:
        """Sets position targets at once (forward position controller)."""
        self.commands_received += 1
        self._traj = None
        self._target = np.asarray(positions, dtype=float).copy()

    def follow_command(self, command: messages.TrajectoryCommand) -> None:
        """A received arm command, as the robot's controller takes it: a trajectory, or the
        forward controller's targets at once (its one point)."""
        if command_io(self.config).trajectory:
            self.follow(command)
        else:
            self.set_targets(command.positions[-1])

    def set_gripper(self, finger: float) -> None:
        self._finger = float(np.clip(finger, 0.0, self.finger_open))

    def _current_target(self) -> np.ndarray:
        if self._traj is None:
            return self._target
        t0, traj, start = self._traj
        t = self.sim_time - t0
        times = np.concatenate([[0.0], traj.times])
        points = np.vstack([start, traj.positions])
        if t >= times[-1]:
            self._target, self._traj = points[-1].copy(), None
            return self._target
        k = int(np.searchsorted(times, t, side="right")) - 1
        w = (t - times[k]) / (times[k + 1] - times[k])
        self._target = points[k] + w * (points[k + 1] - points[k])
        return self._target

    def joint_state(self) -> JointStateSample:
        d = self.data
        return JointStateSample(
            stamp=self.stamp_offset + self.sim_time,
            names=self.joint_names,
            position=d.qpos[self._qadr].copy(),
            velocity=d.qvel[self._dadr].copy(),
        )

    def frames(self) -> dict[str, ImageSample]:
        stamp = self.stamp_offset + self.sim_time
        scene = self.env.base_scene
        return {
            c: ImageSample(stamp, self.backend.render(scene.camera(c)), "rgb8", c)
            for c in self.cameras
        }

    def update(self):
        """One state period: targets applied, physics stepped; returns the samples due."""
        t_before = self.data.time
        self.backend.set_targets(self._current_target(), self._finger)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        if not (self.data.time > t_before and np.isfinite(self.data.qpos).all()):
            raise RuntimeError("MuJoCo diverged in the stand-in robot")
        self.sim_time += self.update_dt
        self._updates += 1
        events: list[tuple] = [("joint_states", self.joint_state())]
        if self._updates % self.camera_every == 0:
            events += [("image", c, s) for c, s in self.frames().items()]
        return events

    def pump(self, now: float):
        """Advances physics to clock time ``now`` (the first call sets time 0) and returns
        every sample published on the way, oldest first."""
        if self._t0 is None:
            self._t0 = now
            return [("joint_states", self.joint_state())] + [
                ("image", c, s) for c, s in self.frames().items()
            ]
        events = []
        while self.sim_time + self.update_dt <= now - self._t0 + 1e-9:
            events += self.update()
        return events

    def close(self) -> None:
        self.env.close()


class InProcessLink:
    """A bridge's command sink and data source, wired to a :class:`SimRobot` in-process.

    Samples and commands go through the message conversions of :mod:`hardware.ros.messages`
    (and so through their validation), exactly as over DDS, minus the wire.

    Args:
        robot: The stand-in.
        lead: ``time_from_start`` of trajectory commands, seconds.
    """

    def __init__(self, robot: SimRobot, lead: float):
        self.robot, self.lead = robot, float(lead)
        self.io = command_io(robot.config)
        self.commands: list[JointCommand] = []

    def send(self, command: JointCommand) -> None:
        self.commands.append(command)
        io, r = self.io, self.robot
        # Through the wire format, so that a command the real wire would refuse fails here.
        r.follow_command(io.arm_from_msg(io.arm_msg(command, self.lead)))
        if command.gripper is not None:
            r.set_gripper(command.gripper)

    def pump(self, bridge, now: float) -> int:
        """Moves the robot to ``now`` and hands its samples to ``bridge``; returns how many."""
        cfg = self.robot.config
        events = self.robot.pump(now)
        for ev in events:
            if ev[0] == "joint_states":
                s = ev[1]
                msg = messages.joint_state_msg(s.stamp, s.names, s.position, s.velocity)
                bridge.on_joint_state(
                    messages.joint_state_from_msg(msg, cfg.arm_joints, cfg.gripper_joints), now
                )
            else:
                _, cam, s = ev
                bridge.on_image(
                    cam, messages.image_from_msg(messages.image_msg(s.stamp, s.image)), now
                )
        return len(events)


def run_closed_loop(robot: SimRobot, bridge, clock, link: InProcessLink, max_seconds: float):
    """Runs ``bridge`` (connected, started) against ``robot`` on a ``FakeClock`` until its
    episode ends or ``max_seconds`` pass; returns the bridge's step results."""
    period = bridge.config.period
    end = clock.now() + max_seconds
    results = []
    while bridge.running and clock.now() < end:
        link.pump(bridge, clock.now())
        results.append(bridge.step())
        clock.advance(period)
    return results


class SimRobotNode:
    """:class:`SimRobot` on Cyclone DDS, in real time (see :mod:`hardware.ros.dds_adapter`)."""

    def __init__(self, robot: SimRobot, domain_id: int = 0, clock: Clock | None = None):
        from hardware.ros.dds_adapter import DdsNode, RobotDdsEndpoint

        self.robot = robot
        self.clock = clock or MonotonicClock()
        self.node = DdsNode(domain_id)
        self.endpoint = RobotDdsEndpoint(self.node, robot.config, robot.cameras)

    def run(
        self, duration: float | None = None, until_success: bool = False, linger: float = 1.0
    ) -> dict:
        """Publishes and follows commands until ``duration`` passes (or, with
        ``until_success``, ``linger`` seconds after the task succeeds); returns a summary."""
        r, ep, clock = self.robot, self.endpoint, self.clock
        start = clock.now()
        r.stamp_offset = time.time()  # header stamps on the wall clock, like a ROS driver
        success_at = None
        next_t = start
        while True:
            now = clock.now()
            if duration is not None and now - start >= duration:
                break
            if until_success and success_at is not None and now - success_at >= linger:
                break
            for traj in ep.take_commands():
                r.follow_command(traj)
            for finger in ep.take_gripper():
                r.set_gripper(finger)
            for ev in r.pump(now):
                if ev[0] == "joint_states":
                    ep.publish_joint_state(ev[1])
                else:
                    ep.publish_image(ev[1], ev[2])
            if success_at is None and r.success():
                success_at = now
                if until_success:
                    log.info("task succeeded at sim time %.2f s", r.sim_time)
            next_t += r.update_dt
            if clock.now() > next_t + 0.1:  # far behind (a loaded machine): resynchronize
                next_t = clock.now()
            clock.sleep_until(next_t)
        return {
            "success": success_at is not None,
            "success_time": None if success_at is None else success_at - start,
            "sim_time": r.sim_time,
            "commands_received": r.commands_received,
            "rejected_commands": ep.rejected,
            "final_tcp": r.backend.tcp_pos().tolist(),
            "goal": r.goal.tolist(),
        }

    def close(self) -> None:
        self.node.close()
        self.robot.close()


def interrupt_on_signal(signum, frame) -> None:
    """A signal handler that raises ``KeyboardInterrupt`` (used for SIGTERM)."""
    raise KeyboardInterrupt(f"signal {signum}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="robopref sim-robot",
        description="A MuJoCo stand-in arm on ROS 2 topics (Cyclone DDS, no ROS install).",
    )
    p.add_argument("--task", required=True, help="Panda task, e.g. panda-reach")
    p.add_argument("--robot", default="panda_mujoco", help="robot config it impersonates")
    p.add_argument("--seed", type=int, default=0, help="episode seed (placement)")
    p.add_argument("--cameras", default=None, help="comma-separated cameras (default: all)")
    p.add_argument("--image-size", type=int, default=84, help="frame size in pixels")
    p.add_argument("--state-rate", type=float, default=100.0, help="joint state rate, Hz")
    p.add_argument("--camera-rate", type=float, default=20.0, help="frame rate, Hz")
    p.add_argument("--domain-id", type=int, default=None, help="DDS domain (ROS_DOMAIN_ID)")
    p.add_argument("--duration", type=float, default=None, help="seconds to run (default: ever)")
    p.add_argument("--until-success", action="store_true", help="exit after the task succeeds")
    p.add_argument("--linger", type=float, default=1.0, help="seconds to run on after success")
    p.add_argument("--result-file", default=None, help="write the JSON summary here too")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``robopref sim-robot``: run the stand-in until ``--duration``, success or Ctrl-C.

    Returns:
        0, or 1 with ``--until-success`` when the task did not succeed.
    """
    from hardware.ros.dds_adapter import domain_from_env

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cams = None if args.cameras is None else [c for c in args.cameras.split(",") if c]
    robot = SimRobot(
        args.task,
        robot=args.robot,
        seed=args.seed,
        cameras=cams,
        image_size=args.image_size,
        state_rate_hz=args.state_rate,
        camera_rate_hz=args.camera_rate,
    )
    domain = args.domain_id if args.domain_id is not None else domain_from_env()
    node = SimRobotNode(robot, domain)
    # SIGTERM (a launcher or a test stopping us) takes the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    summary: dict = {"success": False, "interrupted": True}
    try:
        summary = node.run(args.duration, args.until_success, args.linger)
    except KeyboardInterrupt:
        pass
    finally:
        summary["success_now"] = bool(robot.success())
        node.close()
    text = json.dumps(summary)
    print(text, flush=True)
    if args.result_file:
        with open(args.result_file, "w", encoding="utf-8") as f:
            f.write(text)
    return 0 if (summary.get("success") or not args.until_success) else 1


if __name__ == "__main__":
    sys.exit(main())
