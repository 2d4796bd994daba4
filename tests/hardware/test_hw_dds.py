"""The bridge on Cyclone DDS over loopback: one process, then robot and bridge as two.

Each test uses a loopback-only Cyclone DDS configuration and a random domain id, so that
concurrent test runs on one machine do not hear each other.
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hw_helpers import hold_still

from hardware.core.bridge import Bridge, BridgeConfig, BridgeStatus
from hardware.core.samples import ImageSample
from hardware.robots import get_robot
from hardware.ros import idl, messages
from hardware.ros.dds_adapter import (
    DIAGNOSTICS_TOPIC,
    ESTOP_TOPIC,
    BridgeDdsAdapter,
    DdsCommandSink,
    DdsNode,
    RobotDdsEndpoint,
    dds_topic,
    loopback_config,
    reliable_qos,
    sensor_qos,
    take_valid,
)
from robopref.data import EpisodeStore

ROOT = Path(__file__).resolve().parents[2]


def random_domain() -> int:
    return random.SystemRandom().randint(1, 230)


def wait_for(condition, timeout: float, poll=None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if poll is not None:
            poll()
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_topic_names_follow_ros2():
    assert dds_topic("/joint_states") == "rt/joint_states"
    assert dds_topic("/a/b/commands") == "rt/a/b/commands"
    with pytest.raises(ValueError):
        dds_topic("joint_states")


def test_bridge_and_robot_endpoints_exchange_messages_in_one_process(monkeypatch, stand_in):
    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    domain = random_domain()
    cfg = get_robot("panda_mujoco")
    robot_node, bridge_node = DdsNode(domain), DdsNode(domain)
    try:
        robot = RobotDdsEndpoint(robot_node, cfg, ["front"])
        estop = robot_node.writer(ESTOP_TOPIC, idl.Bool_, reliable_qos())
        diag = robot_node.reader(DIAGNOSTICS_TOPIC, idl.DiagnosticArray_, reliable_qos())
        sink = DdsCommandSink(bridge_node, cfg, lead=0.05)
        bridge = Bridge(cfg, hold_still, sink, config=BridgeConfig(cameras=("front",)))
        adapter = BridgeDdsAdapter(bridge_node, bridge)
        bridge.connect()
        bridge.start()
        stand_in.reset(seed=1)
        js = stand_in.joint_state()
        img = stand_in.frames()["front"]

        def publish():
            t = time.time()
            robot.publish_joint_state(
                messages.JointStateSample(t, js.names, js.position, js.velocity)
            )
            robot.publish_image("front", ImageSample(t, img.image, "rgb8"))
            adapter.spin()

        assert wait_for(lambda: bridge.sync.counters.emitted > 0, 10, publish)
        obs = bridge.get_observation()
        assert np.array_equal(obs["front"], img.image)
        np.testing.assert_allclose(obs["state"][:7], js.position[:7], atol=1e-6)
        publish()
        result = bridge.step()
        assert result.status is BridgeStatus.OK
        got = []
        assert wait_for(lambda: got, 5, lambda: got.extend(robot.take_commands()))
        np.testing.assert_allclose(got[-1].positions[0], result.command.positions)
        assert got[-1].times.tolist() == pytest.approx([0.05])
        fingers = []
        assert wait_for(lambda: fingers, 5, lambda: fingers.extend(robot.take_gripper()))
        assert fingers[-1] == pytest.approx(result.command.gripper)
        # Diagnostics are published; the e-stop topic latches the bridge's e-stop.
        adapter.publish_diagnostics()
        seen = []
        assert wait_for(lambda: seen, 5, lambda: seen.extend(take_valid(diag)))
        entry = messages.diagnostics_from_msg(seen[-1])[0]
        assert entry.hardware_id == "panda_mujoco" and entry.values["commands"] == "1"
        estop.write(messages.bool_msg(True))
        assert wait_for(lambda: bridge.estop_latch.active, 5, adapter.spin)
        assert bridge.status is BridgeStatus.ESTOP
        # A malformed joint state from the wire is counted, not fed in.
        bad = messages.joint_state_msg(time.time(), js.names[:5], js.position[:5])
        robot.joint_states.write(bad)
        assert wait_for(lambda: adapter.rejected, 5, adapter.spin)
        assert "missing joints" in adapter.rejected[-1]
    finally:
        robot_node.close()
        bridge_node.close()


def test_a_best_effort_estop_publisher_latches_the_bridge(monkeypatch):
    # DDS matches a best-effort writer only with a best-effort reader (ROS 2 QoS
    # compatibilities); a teleop or safety node on sensor-data QoS must still stop the arm.
    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    domain = random_domain()
    cfg = get_robot("panda_mujoco")
    other, bridge_node = DdsNode(domain), DdsNode(domain)
    try:
        estop = other.writer(ESTOP_TOPIC, idl.Bool_, sensor_qos())
        sink = DdsCommandSink(bridge_node, cfg, lead=0.05)
        bridge = Bridge(cfg, hold_still, sink, config=BridgeConfig(cameras=()))
        adapter = BridgeDdsAdapter(bridge_node, bridge)
        bridge.connect()
        bridge.start()

        def publish():
            estop.write(messages.bool_msg(True))
            adapter.spin()

        assert wait_for(lambda: bridge.estop_latch.active, 10, publish)
        assert bridge.status is BridgeStatus.ESTOP
    finally:
        other.close()
        bridge_node.close()


def test_fr3_raw_arm_states_are_joined_with_franka_gripper_states_over_dds(monkeypatch):
    # franka_ros2's layout: the arm on /franka/joint_states, the fingers on
    # /franka_gripper/joint_states; the bridge reads both and sees the finger width.
    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    domain = random_domain()
    cfg = get_robot("fr3")
    driver, bridge_node = DdsNode(domain), DdsNode(domain)
    try:
        arm = driver.writer(cfg.joint_state_topic, idl.JointState_, reliable_qos())
        fingers = driver.writer(cfg.gripper.state_topic, idl.JointState_, reliable_qos())
        sink = DdsCommandSink(bridge_node, cfg, lead=0.05)
        bridge = Bridge(cfg, hold_still, sink, config=BridgeConfig(cameras=()))
        adapter = BridgeDdsAdapter(bridge_node, bridge)
        bridge.connect()
        bridge.start()
        q = list(get_robot("fr3").robot_spec().home_q)

        def publish_arm():
            arm.write(messages.joint_state_msg(time.time(), cfg.arm_joints, q, [0.0] * 7))
            adapter.spin()

        # The arm alone lacks the fingers: refused, never taken.
        assert wait_for(lambda: bridge.counters.rejected_messages > 0, 10, publish_arm)
        assert bridge.joint_state_arrival is None

        def publish_both():
            fingers.write(messages.joint_state_msg(time.time(), cfg.gripper.joints, [0.03] * 2))
            publish_arm()

        assert wait_for(lambda: bridge.joint_state_arrival is not None, 10, publish_both)
        assert bridge.get_observation()["state"][-1] == pytest.approx(0.06)
    finally:
        driver.close()
        bridge_node.close()


@pytest.mark.subprocess
@pytest.mark.slow
def test_stand_in_robot_and_bridge_complete_reach_as_two_processes(tmp_path, stand_in):
    seed = 5
    stand_in.reset(seed=seed)
    goal = stand_in.goal.tolist()  # the test reads the goal from the sim; the policy gets it
    domain = str(random_domain())
    env = {
        **os.environ,
        "CYCLONEDDS_URI": loopback_config(),
        "MUJOCO_GL": "egl",
        "PYTHONPATH": str(ROOT),
    }
    robot_result = tmp_path / "robot.json"
    bridge_summary = tmp_path / "bridge.json"
    episodes = tmp_path / "episodes"
    robot_cmd = [
        sys.executable,
        "-m",
        "hardware.standin.sim_robot",
        "--task",
        "panda-reach",
        "--seed",
        str(seed),
        "--cameras",
        "front",
        "--domain-id",
        domain,
        "--duration",
        "40",
        "--until-success",
        "--linger",
        "4",
        "--result-file",
        str(robot_result),
    ]
    bridge_cmd = [
        sys.executable,
        "-m",
        "hardware.ros.bridge_cli",
        "--robot",
        "panda_mujoco",
        "--policy",
        "reach",
        "--policy-kwargs",
        json.dumps({"goal": goal}),
        "--cameras",
        "front",
        "--domain-id",
        domain,
        "--max-steps",
        "40",
        "--episode-dir",
        str(episodes),
        "--source",
        "bridge",
        "--backend",
        "mujoco",
        "--task",
        "panda-reach",
        "--startup-timeout",
        "30",
        "--summary-file",
        str(bridge_summary),
    ]
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                robot_cmd,
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        procs.append(
            subprocess.Popen(
                bridge_cmd,
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        outs = [p.communicate(timeout=60) for p in reversed(procs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    (bridge_out, bridge_err), (robot_out, robot_err) = outs
    assert procs[1].returncode == 0, bridge_err[-3000:]
    assert procs[0].returncode == 0, robot_err[-3000:]
    robot = json.loads(robot_result.read_text())
    bridge = json.loads(bridge_summary.read_text())
    assert robot["success"], robot
    assert robot["commands_received"] >= 10 and robot["rejected_commands"] == 0
    assert bridge["fault"] is None and bridge["rejected_messages"] == 0
    (ep,) = EpisodeStore(episodes)
    assert ep.length == 40 and ep.metadata["stop_reason"] == "max_steps"
    assert ep.metadata["source"] == "bridge" and ep.frames["front"].shape == (41, 84, 84, 3)
    # The TCP recorded by the bridge ends where the stand-in says it is: at the goal.
    np.testing.assert_allclose(ep.state[-1, 14:17], robot["final_tcp"], atol=0.03)
    np.testing.assert_allclose(ep.state[-1, 14:17], goal, atol=0.03)
