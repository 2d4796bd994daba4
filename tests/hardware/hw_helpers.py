"""Helpers shared by the hardware tests (imported by name: this folder is on sys.path)."""

import numpy as np

from hardware.bridge import Bridge, BridgeConfig
from hardware.samples import ImageSample, JointStateSample
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
