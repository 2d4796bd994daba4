"""``robopref import``: a rosbag2 (ours, or one from ``ros2 bag record``) into Episodes.

Any rosbag2 that ``rosbags`` reads (SQLite3 or MCAP storage, message definitions in the
bag or, for old bags without them, ROS 2 Humble's) becomes episodes in the shared format,
which the query UI labels and the PRM trains on like sim ones. It lives in ``hardware/``
because it is the bridge's own pipeline run offline (DESIGN.md: no library package imports
``hardware/``; the CLI does): messages are decoded by :mod:`hardware.ros.messages`, matched by
:class:`hardware.core.sync.ApproximateTimeSync` in bag order, as the bridge would have received
them, and turned into observations by the bridge's :class:`ObservationBuilder` (the sim's
preprocessing) with the robot config's kinematics.

Rows and actions:

* A bag recorded by the bridge (``--bag``, :mod:`hardware.ros.rosbag_record`) carries the
  policy's actions, each logged at the stamp of the observation it was taken on, and
  episode boundaries: each episode has those observations as rows, the recorded actions,
  and the reward terms in ``metadata["reward_model"]``.
* Any other bag: one row per control period (``--control-hz``, the sim's by default), the
  synchronized set nearest each tick; the action of a row is the motion that followed,
  expressed in the policy's action space (TCP displacement over the controller's
  ``max_step``, clipped to [-1, 1], and the next finger opening), so preference models
  that take actions can be trained on it. ``metadata["import"]["action_source"]`` says
  which (``"recorded"`` or ``"tcp_delta"``).

A gap longer than ``max_gap`` in the synchronized stream ends an episode; the topics that
went quiet are named in the report. Bad input (a missing topic, an image encoding that is
not RGB-convertible, stamps going backwards, a truncated or corrupt file) raises
:class:`BagImportError` naming the topic, message or byte offset, and nothing is written:
episodes go to a temp directory beside ``out`` that replaces it (or whose files move into
an existing ``out``) only once every episode is written.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from hardware.core.errors import MessageError
from hardware.core.observation import ObservationBuilder, joint_velocity
from hardware.core.samples import JointStateSample
from hardware.core.sync import ApproximateTimeSync
from hardware.robots import get_robot, list_robots
from hardware.robots.base import COMPRESSED_IMAGE, IMAGE, RobotConfig
from hardware.ros import messages
from hardware.ros.rosbag_record import ACTION_TOPIC, CUSTOM_KEY, EPISODE_TOPIC, REWARD_TOPIC
from sim.backends.base import CONTROL_HZ
from sim.controller import ControllerConfig, EEDeltaController

JOINT_STATE = "sensor_msgs/msg/JointState"
JOINT_STATES = "joint_states"  # the sync stream of joint states (as in the bridge)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class BagImportError(ValueError):
    """A bag that cannot become episodes; the message names the topic, message or offset."""


@dataclass(frozen=True)
class ImportConfig:
    """Settings of an import; None fields default to what the bag recorded, else below.

    Attributes:
        robot: Robot config name (default: the bag's, else the one whose joints the joint
            state topic carries).
        topics: ``TOPIC`` or ``CAMERA=TOPIC`` entries: the joint state topic and the
            cameras to import (default: the robot's joint state topic, or the only
            ``JointState`` topic, and the robot's cameras found in the bag).
        task: Episode ``task`` metadata (default: the bag's, else ``"unspecified"``).
        control_hz: Row rate of bags without recorded actions (default: the sim's).
        image_size: Frame size of the episodes (default: the bag's, else 84).
        slop: Largest stamp spread of a synchronized set, seconds (default 0.02).
        max_gap: A longer silence in the synchronized stream ends an episode, seconds.
    """

    robot: str | None = None
    topics: tuple[str, ...] = ()
    task: str | None = None
    control_hz: float | None = None
    image_size: int | None = None
    slop: float | None = None
    max_gap: float = 0.5

    def __post_init__(self) -> None:
        if self.control_hz is not None and not 0 < self.control_hz <= 1000:
            raise ValueError(f"control_hz must be in (0, 1000], got {self.control_hz}")
        if self.image_size is not None and not 8 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in 8..1024, got {self.image_size}")
        if self.slop is not None and not (math.isfinite(self.slop) and self.slop >= 0):
            raise ValueError(f"slop must be a finite number >= 0, got {self.slop}")
        if not self.max_gap > 0:
            raise ValueError(f"max_gap must be > 0, got {self.max_gap}")


@dataclass
class _Row:
    """One synchronized observation: the joint state's stamp, ``state`` and frames."""

    stamp: float
    stamp_ns: int
    state: np.ndarray
    frames: dict[str, np.ndarray]
    q: np.ndarray
    width: float


@dataclass
class _Plan:
    robot: RobotConfig
    joint_topic: str
    cameras: dict[str, str]  # camera name -> topic
    facts: dict[str, Any] = field(default_factory=dict)


# --- opening the bag ------------------------------------------------------------------------


def _open(path: Path):
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.typesys import Stores, get_typestore

    if not path.exists():
        raise FileNotFoundError(f"no bag at {path}")
    # Bags from Foxy/Galactic carry no message definitions; Humble's match for every type
    # read here (the wire test checks Humble and Jazzy).
    reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
    try:
        reader.open()
    except AnyReaderError as e:
        raise BagImportError(
            f"{path}: not a readable rosbag2: {str(e).rstrip('.')}{_damage(path)}"
        ) from e
    return reader


def _storage_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))


class _CountingReader:
    """A file whose ``read`` counts bytes (the MCAP stream reader has no public offset)."""

    def __init__(self, f):
        self.f, self.pos = f, 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.pos += len(data)
        return data


def _damage(path: Path) -> str:
    """Where an unreadable MCAP file stops making sense: the byte offset after its last
    complete record, found by scanning it with the ``mcap`` stream reader."""
    from mcap.stream_reader import StreamReader

    notes = []
    for f in _storage_files(path):
        size = f.stat().st_size
        if f.suffix != ".mcap":
            notes.append(f"{f.name}: {size} bytes")
            continue
        with open(f, "rb") as fh:
            counting = _CountingReader(fh)
            good, records = 0, 0
            try:
                # Only read() is used; mcap's annotation asks for a whole binary file.
                for _ in StreamReader(cast(IO[bytes], counting), emit_chunks=True).records:
                    good, records = counting.pos, records + 1
            except Exception as e:  # any parse failure marks the damage; reported, not hidden
                notes.append(
                    f"{f.name}: truncated or corrupt at byte offset {good} of {size} "
                    f"(after {records} complete records: {type(e).__name__}); was the "
                    "recording stopped before the bag was closed?"
                )
    return ("; " + "; ".join(notes)) if notes else ""


def _facts(reader) -> dict[str, Any]:
    """The session facts a bag from our bridge carries in its metadata ``custom_data``."""
    meta = getattr(getattr(reader.readers[0], "storage", None), "metadata", None)
    custom = getattr(meta, "custom", None) or {}
    try:
        return json.loads(custom.get(CUSTOM_KEY, "{}"))
    except ValueError:
        return {}


# --- what to read ---------------------------------------------------------------------------


def _first(reader, topic: str):
    conns = [c for c in reader.connections if c.topic == topic]
    for conn, _, raw in reader.messages(connections=conns):
        return reader.deserialize(raw, conn.msgtype)
    return None


def _pick_robot(reader, config: ImportConfig, facts: dict, topics: dict[str, str]) -> RobotConfig:
    name = config.robot or facts.get("robot")
    if name:
        return get_robot(name)
    js_topics = [t for t, ty in topics.items() if ty == JOINT_STATE]
    names: set[str] = set()
    for t in js_topics:
        msg = _first(reader, t)
        names |= set(msg.name) if msg is not None else set()
    fits = [
        n
        for n in list_robots()
        if get_robot(n).kinematics is not None and set(get_robot(n).arm_joints) <= names
    ]
    if len(fits) != 1:
        raise BagImportError(
            f"cannot tell the robot from the joints {sorted(names)} of {js_topics}: "
            f"{'robots ' + str(fits) + ' all fit' if fits else 'no robot config fits'}; "
            f"pass --robot (one of {list_robots()})"
        )
    return get_robot(fits[0])


def _plan(reader, path: Path, config: ImportConfig) -> _Plan:
    topics = {t: info.msgtype for t, info in reader.topics.items()}
    listing = ", ".join(f"{t} ({ty})" for t, ty in sorted(topics.items())) or "none"
    facts = _facts(reader)
    robot = _pick_robot(reader, config, facts, topics)
    by_topic = {c.topic: c.name for c in robot.cameras}
    by_topic.update({t: n for n, t in facts.get("cameras", {}).items()})

    def need(topic: str, types: Sequence[str], what: str) -> None:
        if topic not in topics:
            raise BagImportError(f"{path}: no topic {topic} ({what}); topics in the bag: {listing}")
        if topics[topic] not in types:
            raise BagImportError(
                f"{path}: topic {topic} is {topics[topic]}, {what} needs one of {list(types)}"
            )

    joint_topic: str | None = None
    cameras: dict[str, str] = {}
    cam: str | None  # from --topics, else the robot's or the recording's name for the topic
    for entry in config.topics:
        cam, _, topic = entry.rpartition("=")
        if topic not in topics:
            raise BagImportError(f"{path}: no topic {topic} (from --topics); topics: {listing}")
        if topics[topic] == JOINT_STATE and not cam:
            joint_topic = topic
            continue
        need(topic, (IMAGE, COMPRESSED_IMAGE), f"camera {cam or '?'}")
        cam = cam or by_topic.get(topic)
        if cam is None or not _NAME.fullmatch(cam):
            raise BagImportError(
                f"image topic {topic} is no camera of robot {robot.name}: name it, "
                f"e.g. --topics front={topic}"
            )
        cameras[cam] = topic
    if joint_topic is None:
        js = [t for t, ty in topics.items() if ty == JOINT_STATE]
        joint_topic = robot.joint_state_topic if robot.joint_state_topic in js else None
        if joint_topic is None and len(js) == 1:
            joint_topic = js[0]
        if joint_topic is None:
            want = robot.joint_state_topic
            need(want, (JOINT_STATE,), f"the joint states of {robot.name}; or name one in --topics")
    if not config.topics:
        # Our bags need every camera they recorded; other bags give what they have.
        wanted = facts.get("cameras") or {c.name: c.topic for c in robot.cameras}
        for cam, topic in wanted.items():
            if "cameras" in facts or topic in topics:
                need(topic, (IMAGE, COMPRESSED_IMAGE), f"camera {cam} of the recorded session")
                cameras[cam] = topic
    assert joint_topic is not None  # else need() raised above
    return _Plan(robot, joint_topic, cameras, facts)


# --- reading and synchronizing --------------------------------------------------------------


def _messages(reader, path: Path, topics: Sequence[str]) -> Iterator[tuple[str, int, int, Any]]:
    """``(topic, index on topic, log time ns, message)`` in bag order; read and decode
    errors name the topic, the message and the log time."""
    from rosbags.highlevel import AnyReaderError

    conns = [c for c in reader.connections if c.topic in topics]
    counts = dict.fromkeys(topics, 0)
    last: tuple[str, int] | None = None
    it = reader.messages(connections=conns)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except Exception as e:  # rosbags' storage readers raise several types on damage
            where = f"after message {last[1]} of {last[0]}" if last else "before any message"
            raise BagImportError(
                f"{path}: reading failed {where}: {type(e).__name__}: {e}{_damage(path)}"
            ) from e
        conn, t_ns, raw = item
        i = counts[conn.topic]
        counts[conn.topic] += 1
        try:
            msg = reader.deserialize(raw, conn.msgtype)
        except (AnyReaderError, ValueError, IndexError) as e:
            raise BagImportError(
                f"{conn.topic}: message {i} (log time {t_ns} ns) does not deserialize as "
                f"{conn.msgtype}: {e}"
            ) from e
        last = (conn.topic, i)
        yield conn.topic, i, t_ns, msg


def _rows(reader, path: Path, plan: _Plan, config: ImportConfig, size: tuple[int, int]):
    """Synchronized observations (in stamp order), per-topic gaps, and our bridge's
    recorded steps and episode markers."""
    robot, cams = plan.robot, plan.cameras
    camera_of = {t: c for c, t in cams.items()}
    controller = EEDeltaController(robot.robot_spec(), ControllerConfig())

    def tcp(q: np.ndarray) -> np.ndarray:
        return controller.tcp_pose(q)[:3, 3]

    builder = ObservationBuilder(robot.arm_joints, robot.gripper_joints, tcp, tuple(cams), size)
    slop = config.slop if config.slop is not None else plan.facts.get("slop", 0.02)
    sync = ApproximateTimeSync((JOINT_STATES, *cams), slop, queue_size=32)
    last_stamp: dict[str, tuple[float, int]] = {}
    gaps: list[dict] = []
    rows: list[_Row] = []
    # (log time, action, [reward, potential] or None), in bag order: the bridge may act
    # twice on one observation (no new frame yet), so one stamp may carry two actions.
    steps: list[list[Any]] = []
    markers: list[tuple[int, bool]] = []
    prev_js: JointStateSample | None = None
    extra = [ACTION_TOPIC, REWARD_TOPIC, EPISODE_TOPIC]
    wanted = [plan.joint_topic, *cams.values(), *(t for t in extra if t in reader.topics)]
    for topic, i, t_ns, msg in _messages(reader, path, wanted):
        if topic == ACTION_TOPIC:
            steps.append([t_ns, np.asarray(msg.data, dtype=np.float32), None])
            continue
        if topic == REWARD_TOPIC:  # written right after its action, at the same log time
            if steps and steps[-1][0] == t_ns:
                steps[-1][2] = [float(v) for v in msg.data]
            continue
        if topic == EPISODE_TOPIC:
            markers.append((t_ns, bool(msg.data)))
            continue
        try:
            if topic == plan.joint_topic:
                sample = messages.joint_state_from_msg(msg, robot.arm_joints, robot.gripper_joints)
            elif reader.topics[topic].msgtype == COMPRESSED_IMAGE:
                sample = messages.compressed_image_from_msg(msg)
            else:
                sample = messages.image_from_msg(msg)
        except MessageError as e:
            raise BagImportError(f"{topic}: message {i} (log time {t_ns} ns): {e}") from e
        if topic != plan.joint_topic and not sample.is_color:
            raise BagImportError(
                f"{topic}: message {i}: encoding {sample.encoding!r} is not a colour image; "
                "a policy camera needs rgb8, bgr8, rgba8, bgra8, mono8 or JPEG/PNG"
            )
        prev = last_stamp.get(topic)
        if prev is not None and sample.stamp < prev[0]:
            raise BagImportError(
                f"{topic}: non-monotonic stamps: message {i} is stamped {sample.stamp:.9f} s, "
                f"before message {prev[1]} at {prev[0]:.9f} s"
            )
        if prev is not None and sample.stamp - prev[0] > config.max_gap:
            gaps.append({"topic": topic, "from": prev[0], "seconds": sample.stamp - prev[0]})
        last_stamp[topic] = (sample.stamp, i)
        if topic == plan.joint_topic:
            if prev_js is not None and sample.stamp == prev_js.stamp:
                continue  # a re-published duplicate; the synchronizer would drop it too
            qd = joint_velocity(sample, prev_js)
            prev_js = sample
            synced = sync.add(JOINT_STATES, sample.stamp, (sample, qd))
        else:
            synced = sync.add(camera_of[topic], sample.stamp, sample)
        if synced is None:
            continue
        js, qd = synced.items[JOINT_STATES]
        obs = builder.build(js, qd, {c: synced.items[c] for c in cams})
        q = js.select(robot.arm_joints)[0]
        width = float(sum(js.select(robot.gripper_joints)[0])) if robot.gripper_joints else 0.0
        rows.append(_Row(js.stamp, _ns(js), obs["state"], {c: obs[c] for c in cams}, q, width))
    missing = [t for t in (plan.joint_topic, *cams.values()) if t not in last_stamp]
    if missing:
        raise BagImportError(f"{path}: topics {missing} hold no messages")
    rows.sort(key=lambda r: r.stamp)  # sets complete in arrival order; stamps decide rows
    return rows, gaps, steps, sorted(markers), controller


def _ns(js: JointStateSample) -> int:
    return int(round(js.stamp * 1e9))


# --- rows into episodes ---------------------------------------------------------------------


def _split(rows: list[_Row], max_gap: float) -> list[list[_Row]]:
    out: list[list[_Row]] = [[]]
    for r in rows:
        if out[-1] and r.stamp - out[-1][-1].stamp > max_gap:
            out.append([])
        if not out[-1] or r.stamp > out[-1][-1].stamp:
            out[-1].append(r)
    return [s for s in out if s]


def _on_ticks(rows: list[_Row], period: float) -> list[_Row]:
    """The row nearest each control tick (within half a period), each row once."""
    stamps = np.array([r.stamp for r in rows])
    picked: list[int] = []
    t = stamps[0]
    while t <= stamps[-1] + period / 2:
        k = int(np.argmin(np.abs(stamps - t)))
        if abs(stamps[k] - t) <= period / 2 and (not picked or k > picked[-1]):
            picked.append(k)
        t += period
    return [rows[k] for k in picked]


def _tcp_actions(rows: list[_Row], controller: EEDeltaController) -> np.ndarray:
    """The motion between rows in the policy's action space (see the module docstring)."""
    tcp = np.array([controller.tcp_pose(r.q)[:3, 3] for r in rows])
    move = np.clip(np.diff(tcp, axis=0) / controller.config.max_step, -1, 1)
    finger_open = controller.robot.finger_open
    # The controller opens each finger to finger_open * (a + 1) / 2 (sim.controller).
    width = np.array([r.width for r in rows[1:]])
    grip = np.clip(width / finger_open - 1.0, -1, 1) if finger_open > 0 else 0 * width
    return np.column_stack([move, grip]).astype(np.float32)


def _recorded_episodes(rows, steps, markers, slop: float):
    """Our bridge's episodes: each recorded action's observation, then the last one."""
    by_ns = {r.stamp_ns: r for r in rows}
    stamps = np.array([r.stamp_ns for r in rows], dtype=np.int64)

    def row_at(t_ns: int) -> _Row | None:
        if t_ns in by_ns:
            return by_ns[t_ns]
        k = int(np.argmin(np.abs(stamps - t_ns))) if len(stamps) else -1
        return rows[k] if k >= 0 and abs(stamps[k] - t_ns) <= slop * 1e9 else None

    spans, start = [], None
    for t_ns, active in markers:
        if active:
            start = t_ns
        elif start is not None:
            spans.append((start, t_ns))
            start = None
    out = []
    for a, b in spans:
        # The final observation has no action of its own (the bridge drops an action whose
        # outcome was never observed), so the actions are those logged before it.
        acts = [s for s in steps if a <= s[0] < b]
        picked = [row_at(s[0]) for s in acts] + [row_at(b)]
        if len(acts) < 1 or any(r is None for r in picked):
            continue
        out.append((picked, np.stack([s[1] for s in acts]), [s[2] for s in acts]))
    return out


def _episode_id(path: Path, k: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem if path.is_file() else path.name)
    stem = stem.lstrip("._-")[:100] or "bag"
    return f"{stem}_{k:04d}"


def _describe(task: str) -> str:
    """The instruction the query UI shows for a recorded task; empty for one sim lacks."""
    import sim

    try:
        return sim.describe_task(task)
    except ValueError:
        return ""


def _episode(rows, actions, rewards, k: int, path: Path, plan: _Plan, info: dict, config):
    from robopref.data import Episode

    n = len(actions)
    f = plan.facts
    task = config.task or f.get("task") or "unspecified"
    metadata = {
        "task": task,
        "task_description": _describe(task),
        "source": f.get("source", "real"),
        "backend": f.get("backend", "real"),
        "seed": None,
        "robot": plan.robot.name,
        "control_hz": info["control_hz"],
        "import": {
            "bag": str(path),
            "joint_states": plan.joint_topic,
            "cameras": plan.cameras,
            **{k2: v for k2, v in info.items() if k2 != "control_hz"},
        },
    }
    if rewards is not None and any(r is not None for r in rewards):

        def fin(x: float) -> float | None:
            return x if math.isfinite(x) else None

        metadata["reward_model"] = {
            "reward": [None if r is None else fin(r[0]) for r in rewards],
            "potential": [None if r is None else fin(r[1]) for r in rewards] + [None],
        }
        if any(r is not None and len(r) > 2 for r in rewards):  # the bridge logged P(success)
            metadata["reward_model"]["success_probability"] = [
                None if r is None or len(r) < 3 else fin(r[2]) for r in rewards
            ] + [None]
    return Episode(
        state=np.stack([r.state for r in rows]),
        action=actions,
        reward=np.full(n, np.nan, dtype=np.float32),
        success=np.zeros(n, dtype=bool),
        timestamp=np.array([r.stamp for r in rows], dtype=np.float64),
        frames={c: np.stack([r.frames[c] for r in rows]) for c in plan.cameras},
        terminated=False,
        truncated=True,
        metadata=metadata,
        episode_id=_episode_id(path, k),
    )


def _build(path: Path, config: ImportConfig):
    reader = _open(path)
    try:
        plan = _plan(reader, path, config)
        f = plan.facts
        size = config.image_size or (f.get("image_size") or [84])[0]
        hz = config.control_hz or f.get("control_hz") or CONTROL_HZ
        slop = config.slop if config.slop is not None else f.get("slop", 0.02)
        rows, gaps, steps, markers, controller = _rows(reader, path, plan, config, (size, size))
    finally:
        reader.close()
    episodes = []
    if steps and markers:
        for picked, actions, rewards in _recorded_episodes(rows, steps, markers, slop):
            info: dict[str, Any] = {"control_hz": hz, "action_source": "recorded", "gaps": []}
            episodes.append((picked, actions, rewards, info))
    else:
        for part in _split(rows, config.max_gap):
            picked = _on_ticks(part, 1.0 / hz)
            if len(picked) < 2:
                continue
            info = {"control_hz": hz, "action_source": "tcp_delta", "gaps": []}
            episodes.append((picked, _tcp_actions(picked, controller), None, info))
    for g in gaps:  # name each gap in the episode it ends: the last one begun before it
        before = [e for e in episodes if e[0][0].stamp <= g["from"]]
        if before:
            before[-1][3]["gaps"].append(g)
    if not episodes:
        raise BagImportError(
            f"{path}: no episode of at least one step: {len(rows)} synchronized sets of "
            f"{[plan.joint_topic, *plan.cameras.values()]} within {slop} s"
        )
    return plan, episodes, gaps


def import_bag(bag: str | os.PathLike[str], out: str | os.PathLike[str], config: ImportConfig):
    """Writes the episodes of ``bag`` into the episode directory ``out``; returns a report.

    Raises:
        FileNotFoundError: no bag at ``bag``.
        BagImportError: a bag that cannot become episodes (see the module docstring);
            ``out`` is then left as it was.
    """
    from robopref.data import EpisodeStore

    path, out = Path(bag), Path(out)
    plan, episodes, gaps = _build(path, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.import-{uuid.uuid4().hex[:12]}"
    try:
        store = EpisodeStore(tmp)
        written = []
        for k, (rows, actions, rewards, info) in enumerate(episodes):
            ep = _episode(rows, actions, rewards, k, path, plan, info, config)
            store.save(ep)
            written.append({"id": ep.episode_id, "steps": ep.length, "gaps": info["gaps"]})
        if not out.exists() or (out.is_dir() and not any(out.iterdir())):
            os.replace(tmp, out)  # all episodes appear at once
        else:
            for p in store.paths():  # each file appears whole (EpisodeStore is per file)
                os.replace(p, out / p.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "bag": str(path),
        "out": str(out),
        "robot": plan.robot.name,
        "joint_states": plan.joint_topic,
        "cameras": plan.cameras,
        "episodes": written,
        "gaps": gaps,
    }
