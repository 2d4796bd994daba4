"""The bridge on the ROS 2 wire format over Cyclone DDS, with no ROS 2 installed.

ROS 2 (rmw_cyclonedds) puts topic ``/a/b`` on the DDS topic ``rt/a/b`` with the type
``pkg::msg::dds_::Name_`` (:mod:`hardware.ros.idl`), so these endpoints talk to real ROS 2
nodes on Cyclone DDS in the same domain (``ROS_DOMAIN_ID``). QoS follows ROS 2's profiles:
sensor data (images, joint states in) is best effort, keep last; commands and diagnostics
are reliable, keep last 10. A best-effort reader matches a reliable writer, not the other
way round (ROS 2 docs, "Quality of Service settings", QoS compatibilities), so the sensor
readers accept either, and the e-stop is read twice: by a reliable reader, which recovers
a lost sample of a reliable publisher, and by a best-effort one, the only kind a
best-effort publisher (a sensor-data-QoS teleop or safety node) matches.

Single-threaded by design: :meth:`BridgeDdsAdapter.run` waits on a DDS ``WaitSet`` until
data arrives or the next control period is due, takes everything pending, stamps its
arrival with the bridge clock and steps the bridge. No listener threads touch the bridge.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from cyclonedds.core import (
    InstanceState,
    Policy,
    Qos,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from hardware.core.bridge_config import DIAGNOSTICS_TOPIC, ESTOP_TOPIC
from hardware.core.clock import StatePhaseLock
from hardware.core.errors import MessageError
from hardware.core.samples import JointCommand
from hardware.robots.base import COMPRESSED_IMAGE, RobotConfig
from hardware.ros import idl, messages
from hardware.ros.command_io import command_io
from hardware.ros.gripper_state import GripperStateJoin

log = logging.getLogger(__name__)


def dds_topic(ros_topic: str) -> str:
    """``"/joint_states"`` -> ``"rt/joint_states"`` (ROS 2's prefix for topics)."""
    if not ros_topic.startswith("/"):
        raise ValueError(f"ROS 2 topic {ros_topic!r} must be absolute")
    return "rt" + ros_topic


def sensor_qos(depth: int = 5) -> Qos:
    """ROS 2's sensor-data profile: best effort, keep last ``depth``, volatile."""
    return Qos(
        Policy.Reliability.BestEffort, Policy.History.KeepLast(depth), Policy.Durability.Volatile
    )


def reliable_qos(depth: int = 10) -> Qos:
    """ROS 2's default profile: reliable, keep last ``depth``, volatile."""
    return Qos(
        Policy.Reliability.Reliable(duration(milliseconds=100)),
        Policy.History.KeepLast(depth),
        Policy.Durability.Volatile,
    )


def loopback_config(max_participants: int = 32) -> str:
    """A Cyclone DDS configuration confined to the loopback interface (unicast discovery).

    For tests and sim-in-the-loop runs on one machine: ``CYCLONEDDS_URI`` may hold the XML.
    """
    return (
        '<CycloneDDS><Domain Id="any"><General>'
        '<Interfaces><NetworkInterface name="lo"/></Interfaces>'
        "<AllowMulticast>false</AllowMulticast></General>"
        "<Discovery><ParticipantIndex>auto</ParticipantIndex>"
        f"<MaxAutoParticipantIndex>{max_participants}</MaxAutoParticipantIndex>"
        '<Peers><Peer address="127.0.0.1"/></Peers></Discovery></Domain></CycloneDDS>'
    )


def domain_from_env(default: int = 0) -> int:
    """``ROS_DOMAIN_ID`` as ROS 2 reads it, else ``default``."""
    value = os.environ.get("ROS_DOMAIN_ID", "")
    return int(value) if value.strip() else default


class DdsNode:
    """A domain participant with typed readers and writers on ROS 2 topic names.

    Args:
        domain_id: DDS domain (ROS 2's ``ROS_DOMAIN_ID``), 0..232.
    """

    def __init__(self, domain_id: int = 0):
        if not 0 <= domain_id <= 232:
            raise ValueError(f"domain_id must be in 0..232, got {domain_id}")
        self.domain_id = domain_id
        self.participant = DomainParticipant(domain_id)
        self._topics: dict[str, Topic] = {}
        self._entities: list = []
        self.waitset = WaitSet(self.participant)
        self._entities.append(self.waitset)

    def _topic(self, ros_topic: str, msg_type: type) -> Topic:
        name = dds_topic(ros_topic)
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = Topic(self.participant, name, msg_type)
        elif topic.data_type is not msg_type:
            raise ValueError(f"topic {ros_topic} already has type {topic.data_type.__name__}")
        return topic

    def writer(self, ros_topic: str, msg_type: type, qos: Qos) -> DataWriter:
        w = DataWriter(self.participant, self._topic(ros_topic, msg_type), qos)
        self._entities.append(w)
        return w

    def reader(self, ros_topic: str, msg_type: type, qos: Qos) -> DataReader:
        """A reader whose arrivals also wake :attr:`waitset`."""
        r = DataReader(self.participant, self._topic(ros_topic, msg_type), qos)
        cond = ReadCondition(r, SampleState.NotRead | ViewState.Any | InstanceState.Any)
        self.waitset.attach(cond)
        self._entities += [r, cond]
        return r

    def wait(self, timeout: float) -> bool:
        """Blocks until a reader has data or ``timeout`` seconds pass; True on data."""
        return self.waitset.wait(max(0, int(timeout * 1e9))) > 0

    def close(self) -> None:
        """Deletes every entity and the participant (children first)."""
        # cyclonedds-python keeps entities alive in a class-level registry, so dropping the
        # references is not enough; its __del__ is the documented-by-code way to delete one.
        for e in reversed(self._entities + list(self._topics.values()) + [self.participant]):
            e.__del__()
        self._entities, self._topics = [], {}


def take_valid(reader: DataReader, limit: int = 256) -> list:
    """Pending samples of ``reader`` with data (dispose/unregister notices dropped)."""
    return [s for s in reader.take(N=limit) if s.sample_info.valid_data]


@dataclass
class DelayStats:
    """One-way transport delays (reception minus the writer's source timestamp), seconds."""

    samples: deque = field(default_factory=lambda: deque(maxlen=10_000))

    def add(self, sample) -> None:
        self.samples.append((time.time_ns() - sample.sample_info.source_timestamp) * 1e-9)

    def percentiles(self) -> dict[str, float]:
        if not self.samples:
            return {}
        a = np.asarray(self.samples)
        return {"n": len(a), "p50": float(np.median(a)), "p99": float(np.percentile(a, 99))}


class DdsCommandSink:
    """Publishes the bridge's commands on the robot's controller topics.

    A ``JointTrajectory`` carries one point ``lead`` seconds ahead with a zero stamp
    ("start now"); a ``Float64MultiArray`` carries the positions. The gripper, where the
    robot has a forward controller for it, gets a one-value ``Float64MultiArray``.
    """

    def __init__(self, node: DdsNode, robot: RobotConfig, lead: float):
        self.robot, self.lead = robot, float(lead)
        self.io = io = command_io(robot)
        self.arm = node.writer(io.arm_topic, io.arm_class(), reliable_qos())
        self.gripper = (
            node.writer(io.gripper_topic, io.gripper_class(), reliable_qos())
            if io.gripper_topic is not None
            else None
        )

    def send(self, command: JointCommand) -> None:
        self.arm.write(self.io.arm_msg(command, self.lead))
        gripper = self.io.gripper_msg(command)
        if gripper is not None:
            assert self.gripper is not None  # gripper_msg is None without a gripper topic
            self.gripper.write(gripper)


class BridgeDdsAdapter:
    """Feeds a :class:`hardware.core.bridge.Bridge` from DDS and runs it at its control rate.

    Subscribes the robot's joint states (and its gripper's, where the driver publishes
    them apart: :mod:`hardware.ros.gripper_state`) and the bridge's cameras (sensor QoS), the
    e-stop topic (``std_msgs/Bool``, reliable and best-effort readers; ``true`` latches the
    bridge's e-stop, which only ``Bridge.reset_estop()`` releases), and publishes
    ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` once a second.
    """

    def __init__(self, node: DdsNode, bridge, diagnostics_period: float = 1.0):
        self.node, self.bridge = node, bridge
        robot = bridge.robot
        self.names = robot.arm_joints
        self.optional = robot.gripper_joints
        self.joint_states = node.reader(robot.joint_state_topic, idl.JointState_, sensor_qos(20))
        g = robot.gripper
        self.gripper_states = self.gripper_join = None
        if g is not None and g.state_topic is not None:
            self.gripper_states = node.reader(g.state_topic, idl.JointState_, sensor_qos(5))
            self.gripper_join = GripperStateJoin(g.joints)
        self.cameras = {}
        for cam in robot.cameras:
            if cam.name in bridge.cameras:
                kind = idl.CompressedImage_ if cam.msg_type == COMPRESSED_IMAGE else idl.Image_
                self.cameras[cam.name] = (node.reader(cam.topic, kind, sensor_qos(2)), kind)
        self.estops = (
            node.reader(ESTOP_TOPIC, idl.Bool_, reliable_qos()),
            node.reader(ESTOP_TOPIC, idl.Bool_, sensor_qos(10)),
        )
        self.diagnostics = node.writer(DIAGNOSTICS_TOPIC, idl.DiagnosticArray_, reliable_qos())
        self.diagnostics_period = diagnostics_period
        self._next_diag = -np.inf
        self.delays = DelayStats()
        self._primed = False
        self.rejected: deque[str] = deque(maxlen=100)

    def spin(self) -> int:
        """Takes every pending message into the bridge; returns how many were accepted."""
        b, n = self.bridge, 0
        now = b.clock.now()
        for reader in self.estops:
            for s in take_valid(reader):
                if messages.bool_from_msg(s):
                    b.estop("e-stop topic")
        if self.gripper_states is not None:
            assert self.gripper_join is not None  # made with gripper_states
            for s in take_valid(self.gripper_states):
                try:
                    g = messages.joint_state_from_msg(s, self.gripper_join.joints)
                except MessageError as e:
                    self._reject(e)
                    continue
                self.gripper_join.update(g, now)
        first, self._primed = not self._primed, True
        for s in take_valid(self.joint_states):
            if not first:  # the first take holds history queued before the bridge ran
                self.delays.add(s)
            try:
                sample = messages.joint_state_from_msg(s, self.names, self.optional)
            except MessageError as e:
                self._reject(e)
                continue
            if self.gripper_join is not None:
                sample = self.gripper_join.join(sample, now)
            b.on_joint_state(sample, now)
            n += 1
        for cam, (reader, kind) in self.cameras.items():
            for s in take_valid(reader):
                try:
                    sample = (
                        messages.compressed_image_from_msg(s)
                        if kind is idl.CompressedImage_
                        else messages.image_from_msg(s)
                    )
                except MessageError as e:
                    self._reject(e)
                    continue
                b.on_image(cam, sample, now)
                n += 1
        if now >= self._next_diag:
            self._next_diag = now + self.diagnostics_period
            self.publish_diagnostics()
        return n

    def _reject(self, error: MessageError) -> None:
        self.bridge.reject(error)
        self.rejected.append(str(error))

    def publish_diagnostics(self) -> None:
        extra = {f"joint_state_delay_{k}": f"{v:.6g}" for k, v in self.delays.percentiles().items()}
        entry = self.bridge.diagnostics(extra)
        self.diagnostics.write(messages.diagnostic_array_msg(time.time(), [entry]))

    def run(self, max_steps: int | None = None, lock_to_state: bool = True):
        """Steps the bridge every control period until its episode ends; between periods
        it sleeps in the WaitSet and takes messages as they arrive (accurate arrival times).

        Args:
            max_steps: Control periods at most (None: until the episode ends).
            lock_to_state: Run each period on the first joint state at or after its tick
                (:class:`hardware.core.clock.StatePhaseLock`), so the command is computed from a
                state that has not waited for the timer; False: on the plain timer.

        Returns:
            The episode this run ended, or None.
        """
        b = self.bridge
        period, clock = b.config.period, b.clock
        lock = StatePhaseLock(period) if lock_to_state else None
        next_t = clock.now()
        steps = 0
        while b.running and (max_steps is None or steps < max_steps):
            self._take_until(next_t)
            self.spin()
            tick = next_t
            if lock is not None and not lock.fresh(clock.now(), b.joint_state_arrival):
                deadline = tick + lock.max_wait
                while not lock.fresh(clock.now(), b.joint_state_arrival):
                    remaining = deadline - clock.now()
                    if remaining <= 0:
                        break
                    if self.node.wait(remaining):
                        self.spin()
            arrival = b.joint_state_arrival
            b.step()
            steps += 1
            next_t = lock.next_tick(tick, arrival) if lock is not None else tick + period
            if clock.now() > next_t + period:
                b.counters.overruns += 1
                next_t = clock.now()
        self.publish_diagnostics()
        return b.last_episode

    def _take_until(self, t: float) -> None:
        """Sleeps in the WaitSet until ``t``, taking messages as they arrive."""
        clock = self.bridge.clock
        while (remaining := t - clock.now()) > 0:
            if self.node.wait(remaining):
                self.spin()


class RobotDdsEndpoint:
    """The robot side of the wire, as a ros2_control driver exposes it (for the stand-in).

    Publishes joint states (reliable, like ``joint_state_broadcaster``) and camera images
    (sensor QoS); takes joint commands of the robot's controller type and gripper commands.
    """

    def __init__(self, node: DdsNode, robot: RobotConfig, cameras):
        self.robot = robot
        self.joint_states = node.writer(robot.joint_state_topic, idl.JointState_, reliable_qos())
        self.images = {}
        for cam in robot.cameras:
            if cam.name in cameras:
                kind = idl.CompressedImage_ if cam.msg_type == COMPRESSED_IMAGE else idl.Image_
                self.images[cam.name] = (node.writer(cam.topic, kind, sensor_qos()), kind)
        self.io = io = command_io(robot)
        self.commands = node.reader(io.arm_topic, io.arm_class(), reliable_qos())
        self.gripper = (
            node.reader(io.gripper_topic, io.gripper_class(), reliable_qos())
            if io.gripper_topic is not None
            else None
        )
        self.rejected = 0

    def publish_joint_state(self, sample) -> None:
        self.joint_states.write(
            messages.joint_state_msg(sample.stamp, sample.names, sample.position, sample.velocity)
        )

    def publish_image(self, camera: str, sample) -> None:
        writer, kind = self.images[camera]
        if kind is idl.CompressedImage_:
            writer.write(messages.compressed_image_msg(sample.stamp, sample.image))
        else:
            writer.write(messages.image_msg(sample.stamp, sample.image, "rgb8"))

    def take_commands(self) -> list:
        """Pending arm commands as :class:`messages.TrajectoryCommand` (positions only for a
        forward controller: one point at time 0); malformed ones are counted and dropped."""
        out = []
        for s in take_valid(self.commands):
            try:
                out.append(self.io.arm_from_msg(s))
            except MessageError as e:
                self.rejected += 1
                log.warning("dropped a malformed command: %s", e)
        return out

    def take_gripper(self) -> list[float]:
        """Pending per-finger targets."""
        if self.gripper is None:
            return []
        out = []
        for s in take_valid(self.gripper):
            try:
                out.append(self.io.gripper_from_msg(s))
            except MessageError as e:
                self.rejected += 1
                log.warning("dropped a malformed gripper command: %s", e)
        return out
