"""The bridge records a session as an MCAP rosbag2; ``robopref import`` gives its episodes back.

The stand-in MuJoCo arm runs a reach through the bridge in one process for about two
seconds, with both the bridge's own episode recording and the bag on. The bag is then read
with rosbags (topics, types, counts, log times) and imported through the CLI: the imported
episode must equal the one the bridge recorded, row for row.
"""

import json

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from hardware.core.bridge import Bridge, BridgeConfig
from hardware.policies.scripted import GoalReachPolicy
from hardware.robots import get_robot
from hardware.ros.bridge_cli import open_bag
from hardware.ros.rosbag_record import ACTION_TOPIC, EPISODE_TOPIC, REWARD_TOPIC
from hardware.standin.sim_robot import InProcessLink, run_closed_loop
from robopref import cli
from robopref.data import EpisodeStore


class Potential:
    def potential(self, obs):
        return float(obs["state"][16])  # TCP height: any value that changes along the run

    def reward(self, obs, action):
        return float(action[0])

    def success_probability(self, obs):  # logged by default (BridgeConfig.log_success=None)
        return float(1.0 / (1.0 + np.exp(-10.0 * obs["state"][16])))


@pytest.fixture(scope="module")
def session(tmp_path_factory, stand_in):
    """One bridge session (2 s, 40 steps at most) recorded as episodes and as a bag."""
    from hardware.core.clock import FakeClock

    tmp = tmp_path_factory.mktemp("session")
    clock = FakeClock(100.0)
    stand_in.reset(seed=5)
    cfg = BridgeConfig(
        task="panda-reach",
        cameras=("front",),
        source="bridge",
        backend="mujoco",
        max_steps=40,
        episode_dir=str(tmp / "episodes"),
    )
    link = InProcessLink(stand_in, cfg.period)
    robot = get_robot("panda_mujoco")
    bag = open_bag(str(tmp / "bag"), robot, cfg)
    bridge = Bridge(
        robot,
        GoalReachPolicy(stand_in.goal + [0, 0, 0.1]),
        link,
        config=cfg,
        clock=clock,
        reward_fn=Potential(),
        bag=bag,
    )
    with bridge:
        bridge.start()
        run_closed_loop(stand_in, bridge, clock, link, max_seconds=3.0)
    bag.close()
    (recorded,) = EpisodeStore(tmp / "episodes")
    return tmp, recorded, link, bag


def test_the_bag_holds_every_stream_on_the_robots_clock(session):
    tmp, ep, link, bag = session
    assert ep.length == 40 and ep.metadata["stop_reason"] == "max_steps"
    assert sorted(p.name for p in (tmp / "bag").iterdir()) == ["bag.mcap", "metadata.yaml"]
    with AnyReader([tmp / "bag"]) as r:
        types = {t: i.msgtype for t, i in r.topics.items()}
        counts = {t: i.msgcount for t, i in r.topics.items()}
        logs: dict[str, list] = {}
        for conn, t_ns, raw in r.messages():
            logs.setdefault(conn.topic, []).append((t_ns, r.deserialize(raw, conn.msgtype)))
    assert types["/joint_states"] == "sensor_msgs/msg/JointState"
    assert types["/front_camera/color/image_raw"] == "sensor_msgs/msg/Image"
    assert types[ACTION_TOPIC] == "std_msgs/msg/Float64MultiArray"
    assert types[EPISODE_TOPIC] == "std_msgs/msg/Bool"
    # 100 Hz joint states and 20 Hz frames for the ~2 s the episode ran.
    assert (
        190 <= counts["/joint_states"] <= 230
        and 38 <= counts["/front_camera/color/image_raw"] <= 46
    )
    cmd_topic = next(t for t in types if t.endswith("joint_trajectory") or t.endswith("commands"))
    assert counts[cmd_topic] == len(link.commands) == ep.length  # every command sent
    # Sensor messages are logged at their header stamps.
    for t_ns, msg in logs["/joint_states"]:
        assert t_ns == msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
    img_t, img = logs["/front_camera/color/image_raw"][5]
    assert img.encoding == "rgb8" and (img.height, img.width) == (84, 84)
    # Actions at the stamps of the observations they were taken on, in order.
    acts = logs[ACTION_TOPIC]
    np.testing.assert_allclose([t * 1e-9 for t, _ in acts], ep.timestamp[:-1], atol=1e-9)
    np.testing.assert_array_equal(np.stack([m.data for _, m in acts]).astype(np.float32), ep.action)
    rewards = [m.data for _, m in logs[REWARD_TOPIC]]
    assert [r[0] for r in rewards] == pytest.approx(ep.metadata["reward_model"]["reward"])
    # [reward, potential, P(success)]: the third value where the bridge logs it.
    assert {len(r) for r in rewards} == {3}
    assert [r[2] for r in rewards] == pytest.approx(
        ep.metadata["reward_model"]["success_probability"][:-1]
    )
    marks = [(t * 1e-9, m.data) for t, m in logs[EPISODE_TOPIC]]
    assert marks == [
        (pytest.approx(ep.timestamp[0]), True),
        (pytest.approx(ep.timestamp[-1]), False),
    ]
    assert bag.counts[ACTION_TOPIC] == 40


def test_import_gives_the_bridges_episode_back(session, capsys):
    tmp, ep, _, _ = session
    out = tmp / "imported"
    assert cli.main(["import", str(tmp / "bag"), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["robot"] == "panda_mujoco" and report["cameras"] == {
        "front": "/front_camera/color/image_raw"
    }
    (got,) = EpisodeStore(out)
    assert got.metadata["task"] == "panda-reach" and got.metadata["source"] == "bridge"
    assert got.metadata["import"]["action_source"] == "recorded"
    assert got.length == ep.length == report["episodes"][0]["steps"]
    np.testing.assert_array_equal(got.timestamp, ep.timestamp)
    np.testing.assert_array_equal(got.state, ep.state)  # same preprocessing, same numbers
    np.testing.assert_array_equal(got.action, ep.action)
    np.testing.assert_array_equal(got.frames["front"], ep.frames["front"])
    assert got.metadata["reward_model"]["reward"] == pytest.approx(
        ep.metadata["reward_model"]["reward"]
    )
    # P(success) is logged with each step's action: the last observation's is not in the bag.
    got_p = got.metadata["reward_model"]["success_probability"]
    assert got_p[:-1] == pytest.approx(ep.metadata["reward_model"]["success_probability"][:-1])
    assert got_p[-1] is None
    # The TCP moved: the rows are not one observation repeated.
    assert np.linalg.norm(got.state[-1, 14:17] - got.state[0, 14:17]) > 0.02
