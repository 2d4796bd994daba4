"""Helpers shared by the hardware tests (imported by name: this folder is on sys.path)."""

import numpy as np

from hardware.core.bridge import Bridge, BridgeConfig
from hardware.core.samples import ImageSample, JointStateSample
from sim.robot import PANDA


class RecordingSink:
    """A command sink that keeps everything it is sent."""

    def __init__(self):
        self.commands = []

    def send(self, command):
        self.commands.append(command)


def make_bridge(clock, policy, sink=None, robot="panda_mujoco", start=True, **config):
    """A connected (and started) bridge over a :class:`RecordingSink`; state-only unless
    ``cameras`` is given."""
    config.setdefault("cameras", ())
    sink = sink if sink is not None else RecordingSink()
    bridge = Bridge(robot, policy, sink, config=BridgeConfig(**config), clock=clock)
    bridge.connect()
    if start:
        bridge.start()
    return bridge, sink


def joint_state(robot_config, stamp, q=None, finger=0.04, velocity=True):
    """A joint state at the sim's home pose (or ``q``) with the fingers at ``finger``."""
    q = np.asarray(PANDA.home_q if q is None else q, dtype=float)
    names = robot_config.arm_joints + robot_config.gripper_joints
    pos = np.concatenate([q, [finger, finger]])
    return JointStateSample(stamp, names, pos, np.zeros_like(pos) if velocity else None)


def frame(stamp, size=(84, 84), value=128):
    return ImageSample(stamp, np.full((*size, 3), value, dtype=np.uint8), "rgb8")


def hold_still(obs):
    return np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)


class KinematicArm:
    """A kinematic stand-in for an arm with no simulator model here (UR5e, xArm6).

    Its joints move toward the last commanded target at the vendor velocity limits, as a
    position-controlled arm with no dynamics would; commands arrive and joint states leave
    through the message conversions of :mod:`hardware.ros.messages`, as on the wire. No
    gripper: the arms it stands in for have none in their configs.

    Args:
        config: The robot config (its joints, limits and command type).
        q0: Initial arm configuration.
    """

    def __init__(self, config, q0):
        from hardware.robots.base import JOINT_TRAJECTORY

        self.config = config
        self.q = np.array(q0, dtype=float)
        self.qd = np.zeros_like(self.q)
        self.target = self.q.copy()
        self.trajectory = config.command_type == JOINT_TRAJECTORY
        self.commands = []

    def send(self, command):
        from hardware.ros import messages

        self.commands.append(command)
        cfg = self.config
        if self.trajectory:
            msg = messages.joint_trajectory_msg(command.names, command.positions, 0.05)
            self.target = messages.joint_trajectory_from_msg(msg, cfg.arm_joints).positions[-1]
        else:
            msg = messages.float64_multi_array_msg(command.positions)
            self.target = messages.float64_multi_array_from_msg(msg, cfg.n_arm)

    def advance(self, dt):
        vmax = np.asarray(self.config.limits.velocity) * dt
        step = np.clip(self.target - self.q, -vmax, vmax)
        self.q = self.q + step
        self.qd = step / dt

    def publish(self, bridge, now):
        from hardware.ros import messages

        cfg = self.config
        msg = messages.joint_state_msg(now, cfg.arm_joints, self.q, self.qd)
        bridge.on_joint_state(messages.joint_state_from_msg(msg, cfg.arm_joints), now)


def run_kinematic_loop(arm, bridge, clock, max_seconds):
    """Runs ``bridge`` (connected, started, sending to ``arm``) on a ``FakeClock`` until its
    episode ends or ``max_seconds`` pass; returns the step results."""
    period = bridge.config.period
    end = clock.now() + max_seconds
    results = []
    while bridge.running and clock.now() < end:
        arm.publish(bridge, clock.now())
        results.append(bridge.step())
        clock.advance(period)
        arm.advance(period)
    return results
