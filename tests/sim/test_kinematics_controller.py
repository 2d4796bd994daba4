"""FK agreement (numpy chain vs MuJoCo), and the DLS controller's behaviour."""

import numpy as np
import pytest

from sim.backends import make_backend
from sim.controller import ControllerConfig, EEDeltaController
from sim.kinematics import chain_for, make_chain
from sim.robot import PANDA, UR5E, XARM6
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


# --- the 6-joint arms the bridge drives (UR5e, xArm6): URDF origins against vendor DH ---------
def rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def trans(x, y, z):
    T = np.eye(4)
    T[:3, 3] = x, y, z
    return T


def ur5e_dh(q):
    """UR5e flange in UR's base frame from Universal Robots' standard DH table."""
    d = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
    a = [0, -0.425, -0.3922, 0, 0, 0]
    alpha = [np.pi / 2, 0, 0, np.pi / 2, -np.pi / 2, 0]
    T = np.eye(4)
    for i in range(6):
        T = T @ rz(q[i]) @ trans(0, 0, d[i]) @ trans(a[i], 0, 0) @ rx(alpha[i])
    return T


def xarm6_mdh(q):
    """xArm6 flange from UFACTORY's modified DH table (Craig's convention), in metres."""
    off2 = -np.arctan2(284.5, 53.5)
    d = [0.267, 0, 0, 0.3425, 0, 0.097]
    a = [0, 0, np.hypot(0.2845, 0.0535), 0.0775, 0, 0.076]
    alpha = [0, -np.pi / 2, 0, -np.pi / 2, np.pi / 2, -np.pi / 2]
    offset = [0, off2, -off2, 0, 0, 0]
    T = np.eye(4)
    for i in range(6):
        T = T @ rx(alpha[i]) @ trans(a[i], 0, 0) @ rz(q[i] + offset[i]) @ trans(0, 0, d[i])
    return T


#: (spec, vendor reference in the spec's base frame) per arm. ur_description's base_link is
#: UR's base frame turned by pi about z (REP-103: x forward); tool0 is DH frame 6.
ARMS = {"ur5e": (UR5E, lambda q: rz(np.pi) @ ur5e_dh(q)), "xarm6": (XARM6, xarm6_mdh)}


def arm_configs(spec, n, seed):
    lo, hi = spec.joint_limits()
    return np.random.default_rng(seed).uniform(lo, hi, (n, spec.n_arm))


@pytest.mark.parametrize("name", sorted(ARMS))
def test_arm_fk_matches_the_vendor_dh_table(name):
    spec, reference = ARMS[name]
    assert spec.n_arm == 6
    for kind in ("numpy", "mujoco"):
        chain = make_chain(spec, kind)
        for q in [np.zeros(6), np.array(spec.home_q), *arm_configs(spec, 200, seed=1)]:
            np.testing.assert_allclose(chain.fk(q), reference(q), atol=1e-9, err_msg=kind)


def test_arm_zero_poses_are_at_their_known_tcp_positions():
    # UR5e at zero: (a2 + a3, -(d4 + d6), d1 - d5) in UR's base frame, x and y negated in
    # base_link; the arm lies along x with tool0 facing along y (UR's "zero" is stretched out).
    T = chain_for(UR5E).fk(np.zeros(6))
    np.testing.assert_allclose(T[:3, 3], [0.8172, 0.2329, 0.0628], atol=1e-12)
    np.testing.assert_allclose(T[:3, 2], [0, 1, 0], atol=1e-12)
    # xArm6 at zero: flange straight down at (207, 0, 112) mm (UFACTORY's zero pose).
    T = chain_for(XARM6).fk(np.zeros(6))
    np.testing.assert_allclose(T[:3, 3], [0.207, 0.0, 0.112], atol=1e-12)
    np.testing.assert_allclose(T[:3, 2], [0, 0, -1], atol=1e-12)


@pytest.mark.parametrize("name", sorted(ARMS))
def test_arm_jacobian_matches_finite_differences(name):
    chain = chain_for(ARMS[name][0])
    q = arm_configs(ARMS[name][0], 1, seed=4)[0]
    _, J = chain.jacobian(q)
    eps = 1e-6
    for i in range(chain.n):
        dq = np.zeros(chain.n)
        dq[i] = eps
        dp = (chain.fk(q + dq)[:3, 3] - chain.fk(q - dq)[:3, 3]) / (2 * eps)
        np.testing.assert_allclose(J[:3, i], dp, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ARMS))
def test_arm_home_is_top_down_at_the_pandas_home_tcp(name):
    spec = ARMS[name][0]
    T = chain_for(spec).fk(np.array(spec.home_q))
    np.testing.assert_allclose(
        T[:3, 3], chain_for(PANDA).fk(np.array(PANDA.home_q))[:3, 3], atol=1e-3
    )
    np.testing.assert_allclose(T[:3, 2], [0, 0, -1], atol=1e-3)  # the tool points down


@pytest.mark.parametrize("name", sorted(ARMS))
def test_arm_ik_converges_to_reachable_targets_with_the_hand_top_down(name):
    spec = ARMS[name][0]
    c = EEDeltaController(spec)
    rng = np.random.default_rng(7)
    for _ in range(20):
        # Reachable by construction: the TCP at a random configuration near home, which the
        # controller must find from home with the hand orientation it holds.
        q_goal = np.array(spec.home_q) + rng.uniform(-0.4, 0.4, 6)
        q_goal[5] = spec.home_q[5]  # the flange roll does not move a top-down TCP
        target = c.tcp_pose(q_goal)[:3, 3]
        target = np.clip(target, c.config.workspace_low, c.config.workspace_high)
        q = np.array(spec.home_q)
        for _ in range(60):  # closed loop, one DLS step per action as at 20 Hz
            err = target - c.tcp_pose(q)[:3, 3]
            q = c.command(q, np.append(np.clip(err / c.config.max_step, -1, 1), 0.0)).arm
        T = c.tcp_pose(q)
        assert np.linalg.norm(T[:3, 3] - target) < 1e-3, (target, T[:3, 3])
        assert np.abs(T[:3, :3] - c.target_rotation).max() < 0.02
        assert np.all(q >= c.q_low - 1e-12) and np.all(q <= c.q_high + 1e-12)


@pytest.mark.parametrize("name", sorted(ARMS))
def test_arm_controller_moves_by_the_delta_and_ignores_the_gripper(name):
    spec = ARMS[name][0]
    c = EEDeltaController(spec, ControllerConfig(iterations=3))
    q = np.array(spec.home_q)
    p0 = c.tcp_pose(q)[:3, 3]
    cmd = c.command(q, np.array([1.0, -0.5, 0.25, 1.0]))
    np.testing.assert_allclose(c.tcp_pose(cmd.arm)[:3, 3] - p0, [0.03, -0.015, 0.0075], atol=1.5e-3)
    assert cmd.arm.shape == (6,) and cmd.finger == 0.0  # described without fingers
    # MuJoCo's kinematics of the generated URDF and the numpy reference command the same.
    action = np.array([0.3, 0.2, -0.1, 0.0])
    fast = EEDeltaController(spec, ControllerConfig(kinematics="mujoco")).command(q, action)
    ref = EEDeltaController(spec, ControllerConfig(kinematics="numpy")).command(q, action)
    np.testing.assert_allclose(fast.arm, ref.arm, atol=1e-10)


def test_robot_spec_needs_exactly_one_urdf_source():
    from dataclasses import replace

    with pytest.raises(ValueError, match="exactly one of urdf_relpath and urdf_xml"):
        replace(UR5E, urdf_relpath="x.urdf")
    with pytest.raises(ValueError, match="URDF text, not a file"):
        UR5E.urdf_path  # noqa: B018
    assert UR5E.mesh_assets() == {}


def test_a_urdf_joint_missing_an_element_is_named():
    from sim.kinematics import parse_chain

    joint = (
        '<joint name="j1" type="revolute"><parent link="base"/><child link="tip"/>'
        '<axis xyz="0 0 1"/><limit lower="-1" upper="1" velocity="2"/></joint>'
    )
    urdf = f'<robot name="r"><link name="base"/><link name="tip"/>{joint}</robot>'
    chain = parse_chain(urdf, "base", "tip", ("j1",))
    assert chain.n == 1
    without_axis = urdf.replace('<axis xyz="0 0 1"/>', "")
    with pytest.raises(ValueError, match=r"URDF <joint name='j1'> has no <axis>"):
        parse_chain(without_axis, "base", "tip", ("j1",))
    with pytest.raises(ValueError, match=r"URDF joint 'j1': <axis> without xyz"):
        parse_chain(urdf.replace('xyz="0 0 1"', ""), "base", "tip", ("j1",))
