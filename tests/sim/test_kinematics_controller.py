"""FK agreement (numpy chain vs MuJoCo), and the DLS controller's behaviour."""

import numpy as np
import pytest

from sim.backends import make_backend
from sim.controller import ControllerConfig, EEDeltaController
from sim.kinematics import chain_for
from sim.robot import PANDA
from sim.scene import SceneSpec


@pytest.fixture(scope="module")
def mujoco_backend():
    b = make_backend("mujoco", PANDA, SceneSpec(), (32, 32))
    yield b
    b.close()


def random_configs(n, seed=0):
    lo, hi = PANDA.joint_limits()
    return np.random.default_rng(seed).uniform(lo, hi, (n, len(lo)))


def test_fk_numpy_agrees_with_mujoco_within_1mm_over_1000_configs(mujoco_backend):
    chain = chain_for(PANDA)
    worst_pos, worst_rot = 0.0, 0.0
    for q in random_configs(1000):
        T_np = chain.fk(q)
        T_mj = mujoco_backend.link_pose(q, PANDA.ee_link)
        worst_pos = max(worst_pos, np.abs(T_np[:3, 3] - T_mj[:3, 3]).max())
        worst_rot = max(worst_rot, np.abs(T_np[:3, :3] - T_mj[:3, :3]).max())
    assert worst_pos < 1e-3, worst_pos
    assert worst_rot < 1e-3, worst_rot


def test_jacobian_matches_finite_differences():
    chain = chain_for(PANDA)
    q = random_configs(1, seed=4)[0]
    T, J = chain.jacobian(q)
    eps = 1e-6
    for i in range(chain.n):
        dq = np.zeros(chain.n)
        dq[i] = eps
        dp = (chain.fk(q + dq)[:3, 3] - chain.fk(q - dq)[:3, 3]) / (2 * eps)
        np.testing.assert_allclose(J[:3, i], dp, atol=1e-6)


def test_controller_moves_tcp_by_the_commanded_delta_and_keeps_orientation():
    c = EEDeltaController(PANDA, ControllerConfig(iterations=3))
    q = np.array(PANDA.home_q)
    p0 = c.tcp_pose(q)[:3, 3]
    cmd = c.command(q, np.array([1.0, -0.5, 0.25, 1.0]))
    p1 = c.tcp_pose(cmd.arm)
    np.testing.assert_allclose(p1[:3, 3] - p0, [0.03, -0.015, 0.0075], atol=1.5e-3)
    assert np.abs(p1[:3, :3] - c.target_rotation).max() < 0.02
    assert cmd.finger == pytest.approx(PANDA.finger_open)
    assert c.command(q, np.array([0, 0, 0, -1.0])).finger == 0.0


def test_controller_respects_joint_limits_and_workspace():
    c = EEDeltaController(PANDA)
    q = np.array(PANDA.home_q)
    for _ in range(200):  # drive far down and out: targets stay inside the box and limits
        cmd = c.command(q, np.array([1.0, 1.0, -1.0, 0.0]))
        assert np.all(cmd.arm >= c.q_low - 1e-12) and np.all(cmd.arm <= c.q_high + 1e-12)
        assert np.all(cmd.tcp_target >= np.array(c.config.workspace_low) - 1e-12)
        assert np.all(cmd.tcp_target <= np.array(c.config.workspace_high) + 1e-12)
        q = cmd.arm
    assert c.tcp_pose(q)[2, 3] > c.config.workspace_low[2] - 0.01


def test_controller_rejects_bad_input():
    c = EEDeltaController(PANDA)
    q = np.array(PANDA.home_q)
    with pytest.raises(ValueError, match="shape"):
        c.command(q, np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        c.command(q, np.array([np.nan, 0, 0, 0]))
    with pytest.raises(ValueError, match="workspace_low"):
        ControllerConfig(workspace_low=(1, 0, 0), workspace_high=(0, 1, 1))
    with pytest.raises(ValueError, match=r"unknown kinematics 'kdl'.*mujoco.*numpy"):
        ControllerConfig(kinematics="kdl")


def test_controller_tracks_in_mujoco(mujoco_backend):
    b = mujoco_backend
    c = EEDeltaController(PANDA)
    b.reset(np.array(PANDA.home_q), 0.04, np.array([0.5, 0.3, 0.02]), 0.0, np.array([0.6, 0, 0.1]))
    target = b.tcp_pos() + np.array([0.1, 0.05, -0.1])
    for _ in range(30):
        a = np.clip((target - b.tcp_pos()) / c.config.max_step, -1, 1)
        cmd = c.command(b.arm_q(), np.append(a, 1.0))
        b.set_targets(cmd.arm, cmd.finger)
        b.step()
    assert np.linalg.norm(b.tcp_pos() - target) < 0.005


def test_mujoco_kinematics_match_the_numpy_reference():
    from sim.kinematics import make_chain

    fast, ref = make_chain(PANDA, "mujoco"), make_chain(PANDA, "numpy")
    for q in random_configs(200, seed=9):
        T1, J1 = fast.jacobian(q)
        T2, J2 = ref.jacobian(q)
        np.testing.assert_allclose(T1, T2, atol=1e-10)
        np.testing.assert_allclose(J1, J2, atol=1e-10)
    with pytest.raises(ValueError, match="unknown kinematics 'kdl'"):
        make_chain(PANDA, "kdl")
    with pytest.raises(ValueError, match="expected 7 joint positions"):
        fast.fk(np.zeros(6))


def test_controller_commands_do_not_depend_on_the_kinematics_backend():
    a = EEDeltaController(PANDA, ControllerConfig(kinematics="mujoco"))
    b = EEDeltaController(PANDA, ControllerConfig(kinematics="numpy"))
    rng = np.random.default_rng(2)
    q = np.array(PANDA.home_q)
    for _ in range(50):
        action = rng.uniform(-1, 1, 4)
        ca, cb = a.command(q, action), b.command(q, action)
        np.testing.assert_allclose(ca.arm, cb.arm, atol=1e-10)
        q = ca.arm
