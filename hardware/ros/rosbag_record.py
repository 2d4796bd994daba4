"""Records a bridge session as a rosbag2 (MCAP storage) beside its episodes.

Real-robot users look at data with ``ros2 bag play`` and Foxglove, so the bridge can keep
what it saw and did as a bag they already know how to read (issue 16). Messages are built
by the same writers the DDS adapter publishes with (:mod:`hardware.ros.messages`) and
serialized by the Cyclone DDS types of :mod:`hardware.ros.idl`: the bytes in the bag are the
ones on the wire, as ``ros2 bag record`` would store them (the wire test checks them
against rosbags' own ROS 2 typestore). The bag is written with ``rosbags`` (no ROS needed).

Topics (all ``cdr``):

* the robot's joint state topic: every joint state the bridge accepted (``JointState``);
* each camera's topic: every frame it accepted, as a raw ``rgb8`` ``Image`` at the
  camera's resolution (a compressed camera is stored decoded: the bag keeps what the
  bridge saw);
* the robot's command topic (and its gripper's): every command sent, in the controller's
  message type;
* :data:`ACTION_TOPIC`: the policy action of each step (``Float64MultiArray``, 4 values);
* :data:`REWARD_TOPIC`: ``[reward, potential]`` of each step where a reward model runs
  (NaN where it gave none), and a third value, P(success), where the bridge logs it
  (:attr:`hardware.core.bridge_config.BridgeConfig.log_success`);
* :data:`EPISODE_TOPIC`: ``std_msgs/Bool``, true at an episode's first observation, false
  at its last.

Timestamps: a bag message's log time is the robot's clock, never the bridge's monotonic
one (the two are not comparable): sensor messages at their header stamp, a step's action
and reward at the stamp of the observation they were computed from, a command at the stamp
of the newest joint state when it was sent. ``robopref import`` pairs actions with
observations by that stamp.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hardware.core.samples import ImageSample, JointCommand, JointStateSample
from hardware.robots.base import RobotConfig
from hardware.ros import messages
from hardware.ros.command_io import command_io

log = logging.getLogger(__name__)

#: The policy's action of each step, ``std_msgs/Float64MultiArray``.
ACTION_TOPIC = "/robopref/action"
#: ``[reward, potential]`` (``[reward, potential, P(success)]`` where the bridge logs it) of
#: each step, ``std_msgs/Float64MultiArray``.
REWARD_TOPIC = "/robopref/reward"
#: Episode boundaries, ``std_msgs/Bool``: true at the first observation, false at the last.
EPISODE_TOPIC = "/robopref/episode"
#: Key prefix of the bag's ``custom_data`` (metadata.yaml) entries written here.
CUSTOM_KEY = "robopref.session"

JOINT_STATE = "sensor_msgs/msg/JointState"
IMAGE = "sensor_msgs/msg/Image"
FLOAT64_MULTI_ARRAY = "std_msgs/msg/Float64MultiArray"
BOOL = "std_msgs/msg/Bool"


def stamp_ns(t: float) -> int:
    """Seconds as the integer nanoseconds a header stamp holds (the same rounding as
    :func:`hardware.ros.messages.seconds_to_stamp`, so a log time equals its message's stamp)."""
    return int(round(t * 1e9))


class BagRecorder:
    """Writes what a :class:`hardware.core.bridge.Bridge` sees and sends into an MCAP rosbag2.

    The bridge calls the ``on_*`` methods; :meth:`close` finishes the bag (an MCAP file
    without its summary, after a crash, is refused by ``robopref import`` as truncated).

    Args:
        path: The bag directory to create (must not exist; rosbags never overwrites).
        robot: The robot config (topics, joint names, command type).
        cameras: The cameras the bridge uses.
        command_lead: ``time_from_start`` of trajectory commands, seconds (as sent).
        session: Extra JSON-able session facts (task, control rate) kept in the bag's
            ``custom_data`` so an import of this bag can default to them.

    Raises:
        FileExistsError: when ``path`` exists.
    """

    def __init__(
        self,
        path: str | Path,
        robot: RobotConfig,
        cameras: Sequence[str],
        command_lead: float,
        session: Mapping[str, Any] | None = None,
    ):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag directory {self.path} exists; rosbag2 bags are new dirs")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.robot, self.lead = robot, float(command_lead)
        # The message definitions stored in the bag come from rosbags' Humble store; our
        # message types are the same in every distribution since Humble (the wire test).
        typestore = get_typestore(Stores.ROS2_HUMBLE)
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        facts = {"robot": robot.name, "cameras": {}, **(session or {})}
        self.writer.open()
        self._conns: dict[str, Any] = {}

        def add(topic: str, msgtype: str) -> None:
            self._conns[topic] = self.writer.add_connection(topic, msgtype, typestore=typestore)

        add(robot.joint_state_topic, JOINT_STATE)
        self._camera_topic = {}
        for cam in robot.cameras:
            if cam.name in cameras:
                self._camera_topic[cam.name] = cam.topic
                facts["cameras"][cam.name] = cam.topic
                add(cam.topic, IMAGE)
        self.io = io = command_io(robot)
        add(io.arm_topic, io.arm_type)
        if io.gripper_topic is not None:
            add(io.gripper_topic, io.gripper_type)
        add(ACTION_TOPIC, FLOAT64_MULTI_ARRAY)
        add(REWARD_TOPIC, FLOAT64_MULTI_ARRAY)
        add(EPISODE_TOPIC, BOOL)
        self.writer.set_custom_data(CUSTOM_KEY, json.dumps(facts, sort_keys=True))
        self.counts = dict.fromkeys(self._conns, 0)
        self._last_js = -math.inf
        self._closed = False

    def _write(self, topic: str, t_ns: int, msg) -> None:
        self.writer.write(self._conns[topic], t_ns, msg.serialize())
        self.counts[topic] += 1

    # --- what the bridge sees ---------------------------------------------------------------
    def on_joint_state(self, sample: JointStateSample) -> None:
        """A joint state the bridge accepted."""
        self._last_js = max(self._last_js, sample.stamp)
        msg = messages.joint_state_msg(sample.stamp, sample.names, sample.position, sample.velocity)
        self._write(self.robot.joint_state_topic, stamp_ns(sample.stamp), msg)

    def on_image(self, camera: str, sample: ImageSample) -> None:
        """A frame the bridge accepted (RGB uint8)."""
        msg = messages.image_msg(sample.stamp, sample.image, "rgb8", sample.frame_id)
        self._write(self._camera_topic[camera], stamp_ns(sample.stamp), msg)

    # --- what the bridge does ---------------------------------------------------------------
    def on_command(self, command: JointCommand) -> None:
        """A command the bridge sent, logged at the newest joint state's stamp."""
        if not math.isfinite(self._last_js):
            return  # nothing is sent before a joint state; kept for safety
        t = stamp_ns(self._last_js)
        io = self.io
        self._write(io.arm_topic, t, io.arm_msg(command, self.lead))
        gripper = io.gripper_msg(command)
        if gripper is not None:
            assert io.gripper_topic is not None  # gripper_msg is None without a gripper topic
            self._write(io.gripper_topic, t, gripper)

    def on_step(
        self,
        stamp: float,
        action: np.ndarray,
        reward: float | None,
        potential: float | None,
        success_probability: float | None = None,
    ) -> None:
        """The action taken on the observation stamped ``stamp``, and its reward terms."""
        t = stamp_ns(stamp)
        self._write(ACTION_TOPIC, t, messages.float64_multi_array_msg(action))
        terms = [reward, potential]
        if success_probability is not None:
            terms.append(success_probability)
        if any(v is not None for v in terms):
            values = [math.nan if v is None else float(v) for v in terms]
            self._write(REWARD_TOPIC, t, messages.float64_multi_array_msg(values))

    def on_episode(self, stamp: float, active: bool) -> None:
        """An episode boundary: ``active`` at its first observation, not at its last."""
        self._write(EPISODE_TOPIC, stamp_ns(stamp), messages.bool_msg(active))

    def close(self) -> None:
        """Finishes the bag (metadata.yaml and the MCAP summary); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        log.info("bag %s: %s", self.path, {k: v for k, v in self.counts.items() if v})
