"""``robopref import`` on bags written as ``ros2 bag record`` writes them, and on bad bags.

The bags are written with rosbags' own writer and ROS 2 Humble message classes (nothing of
ours serializes them), in SQLite3 and MCAP storage: ``/joint_states`` at 100 Hz with the
Panda's joints, a front camera in ``rgb8`` and a wrist camera in ``bgr8`` at 20 Hz, log
times a few milliseconds after the header stamps as a recorder's receive times are. Each
frame is one colour that encodes its index, so a row paired with the wrong frame, or a
channel swap, shows.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from hardware.ros.rosbag_import import BagImportError, ImportConfig, import_bag
from robopref import cli
from robopref.data import EpisodeStore
from sim.kinematics import make_chain
from sim.robot import PANDA

TS = get_typestore(Stores.ROS2_HUMBLE)
T0 = 1_700_000_000.0  # a wall-clock stamp, as a real driver's
ARM = [f"panda_joint{i}" for i in range(1, 8)]
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]
FRONT, WRIST = "/camera/front/image_raw", "/camera/wrist/image_raw"
TOPICS = ["/joint_states", f"front={FRONT}", f"wrist={WRIST}"]


def q_at(t: float) -> np.ndarray:
    return np.asarray(PANDA.home_q) + 0.2 * np.sin(t - T0) * np.linspace(0.5, 1.0, 7)


def qd_at(t: float) -> np.ndarray:
    return 0.2 * np.cos(t - T0) * np.linspace(0.5, 1.0, 7)


def front_rgb(k: int) -> tuple[int, int, int]:
    return (7 * k % 256, 100, 200)


def wrist_rgb(k: int) -> tuple[int, int, int]:
    return (10, (20 + 3 * k) % 256, 30)


def _header(t: float):
    ns = int(round(t * 1e9))
    H, T = TS.types["std_msgs/msg/Header"], TS.types["builtin_interfaces/msg/Time"]
    return H(stamp=T(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="")


def _joint_state(t: float):
    JS = TS.types["sensor_msgs/msg/JointState"]
    pos = np.concatenate([q_at(t), [0.03, 0.03]])
    vel = np.concatenate([qd_at(t), [0.0, 0.0]])
    # joint_state_publisher lists joints in its own order, with extra ones: shuffled here.
    order = [8, 0, 1, 2, 3, 7, 4, 5, 6]
    names = [(ARM + FINGERS)[i] for i in order] + ["panda_hand_tcp_joint"]
    return JS(
        header=_header(t),
        name=names,
        position=np.append(pos[order], 0.0),
        velocity=np.append(vel[order], 0.0),
        effort=np.array([], dtype=np.float64),
    )


def _image(t: float, rgb, encoding: str, size=(48, 64)):
    Image = TS.types["sensor_msgs/msg/Image"]
    h, w = size
    if encoding in ("rgb8", "bgr8"):
        px = np.array(rgb if encoding == "rgb8" else rgb[::-1], dtype=np.uint8)
        data, step = np.tile(px, h * w), 3 * w
    elif encoding == "16UC1":
        data, step = np.zeros(h * w * 2, dtype=np.uint8), 2 * w
    else:  # 32FC1 and other encodings we do not convert
        data, step = np.zeros(h * w * 4, dtype=np.uint8), 4 * w
    return Image(
        header=_header(t),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=data,
    )


def write_bag(
    path: Path,
    plugin=StoragePlugin.MCAP,
    seconds: float = 1.0,
    gap: tuple[float, float] | None = None,
    front_encoding: str = "rgb8",
    cameras: bool = True,
    js_stamp=lambda j, t: t,
) -> Path:
    """A bag like ``ros2 bag record /joint_states /camera/...`` on a real Panda."""
    with Writer(path, version=8, storage_plugin=plugin) as w:
        js = w.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=TS)
        fr = w.add_connection(FRONT, "sensor_msgs/msg/Image", typestore=TS)
        wr = w.add_connection(WRIST, "sensor_msgs/msg/Image", typestore=TS)
        events = []
        for j in range(int(seconds * 100) + 1):
            t = T0 + 0.01 * j
            if gap is None or not gap[0] <= t - T0 < gap[1]:
                events.append((t + 0.001, js, _joint_state(js_stamp(j, t))))
        for k in range(int(seconds * 20) + 1):
            t = T0 + 0.05 * k + 0.003
            if cameras and (gap is None or not gap[0] <= t - T0 < gap[1]):
                events.append((t + 0.004, fr, _image(t, front_rgb(k), front_encoding)))
                events.append((t + 0.004, wr, _image(t, wrist_rgb(k), "bgr8")))
        for log_t, conn, msg in sorted(events, key=lambda e: e[0]):
            w.write(conn, int(round(log_t * 1e9)), bytes(TS.serialize_cdr(msg, conn.msgtype)))
    return path


@pytest.mark.parametrize("plugin", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_a_ros2_bag_record_bag_becomes_one_synchronized_episode(tmp_path, plugin, capsys):
    bag = write_bag(tmp_path / "bag", plugin)
    out = tmp_path / "episodes"
    argv = ["import", str(bag), "--out", str(out), "--robot", "franka_panda", "--task", "wipe"]
    assert cli.main([*argv, "--topics", *TOPICS]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cameras"] == {"front": FRONT, "wrist": WRIST} and report["gaps"] == []
    (ep,) = EpisodeStore(out)
    assert ep.metadata["task"] == "wipe" and ep.metadata["robot"] == "franka_panda"
    assert ep.metadata["import"]["action_source"] == "tcp_delta"
    # 21 frames at 20 Hz over 1 s, each paired with the joint state nearest it (3 ms before).
    assert ep.length == 20 and ep.cameras == ("front", "wrist")
    stamps = T0 + 0.05 * np.arange(21)
    np.testing.assert_allclose(ep.timestamp, stamps, atol=1e-6)
    q = np.stack([q_at(t) for t in stamps])
    np.testing.assert_allclose(ep.state[:, :7], q, atol=1e-6)
    np.testing.assert_allclose(ep.state[:, 7:14], np.stack([qd_at(t) for t in stamps]), atol=1e-6)
    chain = make_chain(PANDA, "numpy")
    tcp = np.stack([chain.fk(x)[:3, 3] for x in q])
    np.testing.assert_allclose(ep.state[:, 14:17], tcp, atol=1e-5)
    np.testing.assert_allclose(ep.state[:, 17], 0.06, atol=1e-7)  # finger width
    for k in range(21):
        assert ep.frames["front"].shape[1:] == (84, 84, 3)
        assert (ep.frames["front"][k] == front_rgb(k)).all(), k
        assert (ep.frames["wrist"][k] == wrist_rgb(k)).all(), k  # bgr8 turned into RGB
    # The action of a row is the TCP motion that followed, in units of max_step (0.03 m).
    want = np.clip(np.diff(tcp, axis=0) / 0.03, -1, 1)
    np.testing.assert_allclose(ep.action[:, :3], want, atol=1e-5)
    assert np.abs(ep.action[:, :3]).max() > 0.05  # the arm did move
    np.testing.assert_allclose(ep.action[:, 3], 0.06 / PANDA.finger_open - 1, atol=1e-6)
    assert np.isnan(ep.reward).all() and not ep.success.any()


def test_a_gap_splits_the_episodes_and_is_named(tmp_path):
    bag = write_bag(tmp_path / "bag", seconds=3.0, gap=(1.0, 2.0))
    report = import_bag(
        bag, tmp_path / "out", ImportConfig(robot="franka_panda", topics=tuple(TOPICS))
    )
    # frames 0..19 before the gap, 40..60 after it
    assert [e["steps"] for e in report["episodes"]] == [19, 20]
    named = {g["topic"] for g in report["gaps"]}
    assert named == {"/joint_states", FRONT, WRIST}
    assert all(0.99 < g["seconds"] < 1.06 for g in report["gaps"])
    first, second = EpisodeStore(tmp_path / "out")
    assert first.timestamp[-1] < T0 + 1.0 and second.timestamp[0] >= T0 + 2.0
    assert first.metadata["import"]["gaps"] and not second.metadata["import"]["gaps"]


def test_an_import_into_a_store_adds_episodes_and_a_reimport_replaces_them(tmp_path):
    out = tmp_path / "store"
    write_bag(tmp_path / "a", seconds=0.5)
    write_bag(tmp_path / "b", seconds=0.5)
    cfg = ImportConfig(robot="franka_panda", topics=tuple(TOPICS))
    import_bag(tmp_path / "a", out, cfg)
    import_bag(tmp_path / "b", out, cfg)
    import_bag(tmp_path / "a", out, cfg)
    assert EpisodeStore(out).ids() == ["a_0000", "b_0000"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left


# --- bad input: a clear error, and nothing in --out ------------------------------------------


def _fails(bag: Path, out: Path, match: str, **config) -> str:
    config.setdefault("robot", "franka_panda")
    config.setdefault("topics", tuple(TOPICS))
    with pytest.raises(BagImportError, match=match) as e:
        import_bag(bag, out, ImportConfig(**config))
    assert not out.exists(), f"{out} was written"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    return str(e.value)


def test_a_bag_without_the_topics_needed_is_refused_naming_them(tmp_path):
    bag = write_bag(tmp_path / "bag", seconds=0.3, cameras=False)
    cams = _fails(bag, tmp_path / "out", "no messages", topics=tuple(TOPICS))
    assert FRONT in cams and WRIST in cams
    side = _fails(bag, tmp_path / "out", "no topic /camera/side", topics=("side=/camera/side",))
    assert "/joint_states (sensor_msgs/msg/JointState)" in side  # lists what the bag has
    only_images = tmp_path / "images"
    with Writer(only_images, version=8, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection(FRONT, "sensor_msgs/msg/Image", typestore=TS)
        w.write(c, int(T0 * 1e9), bytes(TS.serialize_cdr(_image(T0, (1, 2, 3), "rgb8"), c.msgtype)))
    msg = _fails(only_images, tmp_path / "out", "no topic /franka/joint_states", topics=())
    assert "joint states of franka_panda" in msg


def test_an_image_encoding_we_cannot_convert_is_named_with_its_topic(tmp_path):
    bag = write_bag(tmp_path / "bag", seconds=0.3, front_encoding="32FC1")
    msg = _fails(bag, tmp_path / "out", "32FC1")
    assert msg.startswith(FRONT) and "message 0" in msg
    depth = write_bag(tmp_path / "depth", seconds=0.3, front_encoding="16UC1")
    assert _fails(depth, tmp_path / "out", "not a colour image").startswith(FRONT)


def test_stamps_going_backwards_are_refused_naming_topic_and_message(tmp_path):
    # Message 12 of /joint_states carries a stamp 50 ms older than message 11's.
    bag = write_bag(tmp_path / "bag", seconds=0.3, js_stamp=lambda j, t: t - 0.06 * (j == 12))
    msg = _fails(bag, tmp_path / "out", "non-monotonic stamps")
    assert msg.startswith("/joint_states") and "message 12" in msg and "message 11" in msg


@pytest.mark.parametrize("plugin", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_a_truncated_bag_is_refused_naming_the_file_and_offset(tmp_path, plugin):
    bag = write_bag(tmp_path / "bag", plugin, seconds=0.5)
    (data,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
    size = data.stat().st_size
    with open(data, "r+b") as f:
        f.truncate(size * 6 // 10)
    msg = _fails(bag, tmp_path / "out", "not a readable rosbag2")
    assert data.name in msg
    if plugin == StoragePlugin.MCAP:
        # The offset is the end of the last complete record, inside the kept 60 %.
        offset = int(msg.split("byte offset ")[1].split()[0])
        assert 0 < offset <= size * 6 // 10 and f"of {size * 6 // 10}" in msg


def test_a_failed_import_leaves_an_existing_store_as_it_was(tmp_path):
    out = tmp_path / "store"
    import_bag(write_bag(tmp_path / "good", seconds=0.3), out, ImportConfig("franka_panda", TOPICS))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
    bad = write_bag(tmp_path / "bad", seconds=0.3, front_encoding="32FC1")
    with pytest.raises(BagImportError):
        import_bag(bad, out, ImportConfig("franka_panda", TOPICS))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_robot_must_be_named_when_several_fit_and_the_cli_says_so(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag", seconds=0.3)
    out = tmp_path / "out"
    assert cli.main(["import", str(bag), "--out", str(out), "--topics", *TOPICS]) == 2
    err = capsys.readouterr().err
    assert "robopref import: error:" in err and "pass --robot" in err
    assert "franka_panda" in err and "panda_mujoco" in err
    assert not out.exists()
    shutil.rmtree(bag)
    assert cli.main(["import", str(bag), "--out", str(out)]) == 2  # no bag at all
    assert "no bag at" in capsys.readouterr().err
