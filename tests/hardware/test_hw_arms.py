"""The 6-joint arms (UR5e, xArm6) through the bridge: controller, safety layer and recorder.

There is no simulator model of these arms, so a kinematic stand-in (``hw_helpers``) follows
the bridge's commands at the vendor velocity limits; the loop is the bridge's own, on a
FakeClock, with commands and joint states through the ROS message conversions.
"""

import numpy as np
import pytest
from hw_helpers import KinematicArm, run_kinematic_loop

from hardware.core.bridge import Bridge, BridgeConfig, BridgeStatus
from hardware.core.observation import state_dim
from hardware.policies.scripted import GoalReachPolicy
from hardware.robots import get_robot
from hardware.robots.base import FLOAT64_MULTI_ARRAY

ARMS = ("ur5e", "ur5e_forward_position", "xarm6")


def reach(name, clock, goal, max_seconds=8.0, **config):
    robot = get_robot(name)
    spec = robot.robot_spec()
    arm = KinematicArm(robot, spec.home_q)

    def at_goal(obs):  # the TCP the bridge measured, against the goal
        return bool(np.linalg.norm(obs["state"][12:15] - goal) < 0.01)

    cfg = BridgeConfig(task="reach", cameras=(), source="bridge", backend="kinematic", **config)
    bridge = Bridge(robot, GoalReachPolicy(goal), arm, config=cfg, clock=clock, success_fn=at_goal)
    with bridge:
        bridge.start()
        results = run_kinematic_loop(arm, bridge, clock, max_seconds)
    return robot, arm, bridge, results


@pytest.mark.parametrize("name", ARMS)
def test_arm_reaches_a_goal_closed_loop_within_its_limits(name, clock):
    goal = np.array([0.55, 0.12, 0.18])
    robot, arm, bridge, results = reach(name, clock, goal)
    ep = bridge.last_episode
    assert ep is not None and ep.metadata["stop_reason"] == "success", bridge.last_reasons
    assert ep.metadata["robot"] == name and ep.terminated
    assert ep.state.shape == (ep.length + 1, state_dim(6)) == (ep.length + 1, 16)
    tcp = bridge.controller.tcp_pose(arm.q)[:3, 3]
    assert np.linalg.norm(tcp - goal) < 0.015
    assert BridgeStatus.FAULT not in [r.status for r in results]
    sent = [r.command for r in results if r.command is not None]
    assert sent and sent == arm.commands and not any(c.hold for c in sent)
    assert arm.trajectory is (robot.command_type != FLOAT64_MULTI_ARRAY)
    # Every command: inside the limits less the margin, within the scaled velocity limit
    # from the one before, and its TCP in the safety workspace box.
    safety, period = bridge.config.safety, bridge.config.period
    lo = np.asarray(robot.limits.lower) + safety.position_margin
    hi = np.asarray(robot.limits.upper) - safety.position_margin
    vmax = np.asarray(robot.limits.velocity) * safety.velocity_scale * period
    previous = np.asarray(robot.robot_spec().home_q)
    for c in sent:
        assert c.names == robot.arm_joints and c.positions.shape == (6,)
        assert np.all(c.positions >= lo) and np.all(c.positions <= hi)
        assert np.all(np.abs(c.positions - previous) <= vmax + 1e-9)
        p = bridge.controller.tcp_pose(c.positions)[:3, 3]
        assert np.all(p >= safety.workspace_low) and np.all(p <= safety.workspace_high)
        assert c.gripper is None  # no gripper in these configs: nothing is sent for one
        previous = c.positions
    # The hand stayed top down all the way (the controller holds the home orientation).
    R = bridge.controller.tcp_pose(arm.q)[:3, :3]
    assert np.abs(R - bridge.controller.target_rotation).max() < 0.02


@pytest.mark.parametrize("name", ("ur5e", "xarm6"))
def test_arm_goal_outside_the_workspace_is_never_crossed(name, clock):
    # A policy pulling far below the table and out sideways: the controller clips its target
    # to its box, the safety layer checks every command's TCP against the (larger) safety box.
    goal = np.array([0.5, 0.9, -0.4])
    robot, arm, bridge, results = reach(name, clock, goal, max_seconds=6.0, max_steps=100)
    assert bridge.last_episode.metadata["stop_reason"] == "max_steps"
    tcp = bridge.controller.tcp_pose(arm.q)[:3, 3]
    safety = bridge.config.safety
    # Pressed into the corner toward the goal: down to the table and out to the side.
    assert tcp[1] > 0.3 and tcp[2] < bridge.config.controller.workspace_low[2] + 0.01
    assert np.all(tcp >= safety.workspace_low) and np.all(tcp <= safety.workspace_high)
    assert BridgeStatus.FAULT not in [r.status for r in results]
    for r in results:
        if r.command is not None:
            p = bridge.controller.tcp_pose(r.command.positions)[:3, 3]
            assert np.all(p >= safety.workspace_low) and np.all(p <= safety.workspace_high)
