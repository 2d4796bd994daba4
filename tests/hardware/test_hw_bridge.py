"""The bridge core: closed loop with the MuJoCo stand-in in one process, and its API."""

from dataclasses import replace

import numpy as np
import pytest
from hw_helpers import RecordingSink, frame, hold_still, joint_state, make_bridge

from hardware.core.bridge import Bridge, BridgeConfig, BridgeStatus
from hardware.core.errors import (
    DeviceAlreadyConnectedError,
    DeviceNotConnectedError,
    EStopActiveError,
    SafetyLimitError,
    StaleDataError,
)
from hardware.policies.scripted import GoalReachPolicy, load_policy
from hardware.robots import get_robot
from hardware.standin.sim_robot import InProcessLink, run_closed_loop
from robopref.data import EpisodeStore, load_episode

DT = 0.05


class Potential:
    """A stand-in reward model (the C evaluator's wrapper will look like this)."""

    def __init__(self, goal):
        self.goal = goal
        self.calls = 0

    def potential(self, obs):
        self.calls += 1
        return -float(np.linalg.norm(obs["state"][14:17] - self.goal))

    def reward(self, obs, action):
        return float(action[0])


def test_reach_completes_through_the_bridge_and_the_episode_loads_back(stand_in, clock, tmp_path):
    stand_in.reset(seed=3)
    goal = stand_in.goal.copy()  # privileged, taken from the sim by the test only
    cfg = BridgeConfig(
        task="panda-reach",
        cameras=("front",),
        source="bridge",
        backend="mujoco",
        max_steps=50,
        episode_dir=str(tmp_path),
    )
    link = InProcessLink(stand_in, cfg.period)
    reward = Potential(goal)
    bridge = Bridge(
        "panda_mujoco",
        GoalReachPolicy(goal),
        link,
        config=cfg,
        clock=clock,
        reward_fn=reward,
        success_fn=lambda obs: stand_in.success(),
    )
    with bridge:
        bridge.start()
        results = run_closed_loop(stand_in, bridge, clock, link, max_seconds=5.0)
    assert stand_in.success(), f"TCP {stand_in.backend.tcp_pos()} vs goal {goal}"
    assert bridge.status is BridgeStatus.DISCONNECTED
    statuses = [r.status for r in results]
    assert statuses[-1] is BridgeStatus.IDLE and BridgeStatus.FAULT not in statuses
    sent = [r.command for r in results if r.command is not None]
    assert sent and sent == link.commands == list(bridge.sent)  # every command, returned & kept
    # The recorded episode: shared format, on disk, loads back identical.
    (path,) = EpisodeStore(tmp_path).paths()
    ep = load_episode(path)
    assert ep.metadata["source"] == "bridge" and ep.metadata["robot"] == "panda_mujoco"
    assert ep.metadata["stop_reason"] == "success" and ep.terminated and ep.success[-1]
    assert ep.length == len(sent) and ep.cameras == ("front",)
    assert ep.state.shape == (ep.length + 1, 18) and ep.frames["front"].shape[1:] == (84, 84, 3)
    assert np.isnan(ep.reward).all()  # no task reward on a "real" robot
    pot = ep.metadata["reward_model"]["potential"]
    assert len(pot) == ep.length + 1 and pot[-1] > pot[0]  # closer to the goal at the end
    np.testing.assert_allclose(ep.state[-1, 14:17], stand_in.backend.tcp_pos(), atol=0.02)
    assert (np.diff(ep.timestamp) > 0).all()
    same = bridge.episodes[-1]
    assert np.array_equal(ep.state, same.state) and np.array_equal(ep.action, same.action)


def test_send_action_returns_the_command_actually_sent(clock, panda):
    bridge, sink = make_bridge(clock, hold_still)
    bridge.on_joint_state(joint_state(panda, clock.now()))
    first = bridge.send_action([1.0, 0.0, 0.0, 1.0])
    assert sink.commands == [first] and not first.hold and first.gripper == pytest.approx(0.04)
    assert first.names == panda.arm_joints
    for bad in ([np.nan, 0, 0, 0], [np.inf, 0, 0, 0], [0, 0, 0], None, "go"):
        held = bridge.send_action(bad)
        assert held.hold and np.array_equal(held.positions, first.positions)
        assert held.gripper == first.gripper and "not 4 finite numbers" in held.reasons[0]
    huge = bridge.send_action([1e12, -1e12, 1e12, 5.0])  # clipped by the controller, then safe
    assert not huge.hold and np.isfinite(huge.positions).all()
    assert len(sink.commands) == 7


def test_lifecycle_errors_and_context_manager(clock, panda):
    bridge = Bridge(
        "panda_mujoco", hold_still, RecordingSink(), clock=clock, config=BridgeConfig(cameras=())
    )
    with pytest.raises(DeviceNotConnectedError):
        bridge.send_action([0, 0, 0, 0])
    with pytest.raises(DeviceNotConnectedError):
        bridge.start()
    assert bridge.step().status is BridgeStatus.DISCONNECTED
    with bridge:
        assert bridge.is_connected and bridge.status is BridgeStatus.IDLE
        with pytest.raises(DeviceAlreadyConnectedError):
            bridge.connect()
        with pytest.raises(StaleDataError, match="no data yet"):
            bridge.send_action([0, 0, 0, 0])
        with pytest.raises(StaleDataError):
            bridge.get_observation()
    assert not bridge.is_connected
    bridge.disconnect()  # twice is fine


def test_unknown_robot_camera_and_undrivable_robot(clock):
    with pytest.raises(ValueError, match="unknown robot"):
        Bridge("kuka", hold_still, RecordingSink())
    with pytest.raises(ValueError, match=r"cameras \['top'\]"):
        Bridge("panda_mujoco", hold_still, RecordingSink(), config=BridgeConfig(cameras=("top",)))
    unmodelled = replace(get_robot("ur5e"), name="ur5e_unmodelled", kinematics=None)
    b = Bridge(unmodelled, hold_still, RecordingSink(), config=BridgeConfig(cameras=()))
    with pytest.raises(ValueError, match="no kinematic model"):
        b.connect()
    with pytest.raises(TypeError, match="neither potential"):
        Bridge("panda_mujoco", hold_still, RecordingSink(), reward_fn=object())


def test_get_observation_matches_the_space_and_records(clock, panda):
    bridge, _ = make_bridge(clock, hold_still, cameras=("front", "wrist"), image_size=(48, 64))
    bridge.on_joint_state(joint_state(panda, clock.now()))
    bridge.on_image("front", frame(clock.now(), size=(480, 640)))
    with pytest.raises(StaleDataError, match="wrist"):
        bridge.get_observation()
    bridge.on_image("wrist", frame(clock.now() + 0.001, size=(48, 64)))
    obs = bridge.get_observation()
    assert bridge.observations.space.contains(obs)
    assert obs["front"].shape == (48, 64, 3) and obs["state"].dtype == np.float32


def test_policy_exception_holds_and_is_reported(clock, panda):
    calls = {"n": 0}

    def flaky(obs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("model crashed")
        return np.array([0.5, 0, 0, 1.0])

    bridge, sink = make_bridge(clock, flaky)
    bridge.on_joint_state(joint_state(panda, clock.now()))
    assert bridge.step().status is BridgeStatus.OK
    r = bridge.step()
    assert r.status is BridgeStatus.DEGRADED and r.command.hold and "model crashed" in r.reasons[0]
    assert isinstance(r.error, RuntimeError) and bridge.counters.policy_errors == 1
    assert bridge.step().status is BridgeStatus.OK


def test_estop_latches_ends_the_episode_and_needs_an_explicit_reset(clock, panda):
    bridge, sink = make_bridge(clock, hold_still)
    for _ in range(3):
        bridge.on_joint_state(joint_state(panda, clock.now()))
        bridge.step()
        clock.advance(DT)
    n = len(sink.commands)
    bridge.estop("operator")
    assert bridge.status is BridgeStatus.ESTOP and not bridge.running
    assert bridge.episodes[-1].metadata["stop_reason"] == "e-stop: operator"
    for _ in range(3):
        bridge.on_joint_state(joint_state(panda, clock.now()))
        assert bridge.step().command is None
        clock.advance(DT)
    with pytest.raises(EStopActiveError, match="operator"):
        bridge.send_action(hold_still(None))
    with pytest.raises(EStopActiveError):
        bridge.start()
    assert len(sink.commands) == n
    bridge.reset_estop()
    bridge.start()
    bridge.on_joint_state(joint_state(panda, clock.now()))
    assert bridge.step().status is BridgeStatus.OK and len(sink.commands) == n + 1


def test_arm_outside_its_limits_is_never_commanded(clock, panda):
    bridge, sink = make_bridge(clock, hold_still)
    q = np.asarray(panda.limits.upper) - 0.01  # within the vendor limit, inside the margin
    q[3] = -0.2
    bridge.on_joint_state(joint_state(panda, clock.now(), q=q))
    with pytest.raises(SafetyLimitError, match="outside the limits"):
        bridge.send_action(hold_still(None))
    r = bridge.step()
    assert r.status is BridgeStatus.DEGRADED and r.command is None and not sink.commands


def test_implausible_joint_states_are_rejected(clock, panda):
    bridge, _ = make_bridge(clock, hold_still)
    q = np.zeros(7)
    q[0] = 100.0
    bridge.on_joint_state(joint_state(panda, clock.now(), q=q))
    assert bridge.counters.rejected_messages == 1 and "implausible" in str(bridge.last_error)
    assert bridge.step().status is BridgeStatus.WAITING


def test_episode_without_velocities_uses_finite_differences(clock, panda):
    bridge, _ = make_bridge(clock, hold_still, max_steps=3)
    q = np.asarray(joint_state(panda, 0).position[:7])
    for i in range(5):
        bridge.on_joint_state(joint_state(panda, clock.now(), q=q + 0.01 * i, velocity=False))
        bridge.step()
        clock.advance(DT)
    ep = bridge.episodes[-1]
    assert ep.length == 3 and ep.metadata["stop_reason"] == "max_steps"
    np.testing.assert_allclose(ep.state[1:, 7:14], 0.01 / DT, rtol=1e-5)


def test_load_policy():
    assert load_policy("hold")({})[3] == 1.0
    p = load_policy("reach", goal=[0.5, 0.0, 0.3])
    state = np.zeros(18, np.float32)
    state[14:17] = [0.5, 0.0, 0.2]
    assert p({"state": state})[2] > 0
    assert callable(load_policy("hardware.policies.scripted:GoalReachPolicy", goal=[0.5, 0, 0.3]))
    with pytest.raises(ValueError, match="unknown policy"):
        load_policy("dance")
    with pytest.raises(ValueError, match="goal"):
        load_policy("reach", goal=[0.5, 0.0])


def test_run_steps_at_the_control_rate_and_counts_overruns(clock, panda):
    bridge, sink = make_bridge(clock, hold_still, max_steps=10)
    times = []

    def spin():  # what an adapter does before each period: take pending messages
        times.append(clock.now())
        bridge.on_joint_state(joint_state(panda, clock.now()))
        if len(times) == 4:
            clock.advance(3 * DT)  # a stall longer than a period, after the sample

    ep = bridge.run(spin=spin)
    assert ep is bridge.episodes[-1] and ep.length == 10
    gaps = np.diff(times)
    assert np.allclose(gaps[:3], DT) and gaps[3] == pytest.approx(3 * DT)
    assert np.allclose(gaps[4:], DT) and bridge.counters.overruns == 1
    # The stall left the joint state 3 periods old at that step: one hold, not recorded.
    assert [c.hold for c in sink.commands].count(True) == 1 and len(sink.commands) == 11
    assert not bridge.running


def test_data_going_stale_while_the_policy_runs_is_caught_at_send_time(clock, panda):
    def slow(obs):
        clock.advance(3 * DT)  # the policy takes three periods: the joint state is stale now
        return np.array([0.5, 0.0, 0.0, 1.0])

    bridge, sink = make_bridge(clock, slow)
    bridge.on_joint_state(joint_state(panda, clock.now()))
    r = bridge.step()  # nothing sent before: nothing to hold, and no exception either
    assert r.status is BridgeStatus.DEGRADED and isinstance(r.error, StaleDataError)
    assert not sink.commands
    bridge.policy = hold_still
    bridge.on_joint_state(joint_state(panda, clock.now()))
    assert bridge.step().status is BridgeStatus.OK
    bridge.policy = slow
    bridge.on_joint_state(joint_state(panda, clock.now()))
    r = bridge.step()  # now the previous command is held
    assert r.status is BridgeStatus.DEGRADED and r.command.hold and len(sink.commands) == 2
