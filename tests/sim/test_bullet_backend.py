"""Tests of the PyBullet twin (sim/backends/bullet_backend.py) against the numpy kinematics
and the MuJoCo backend: kinematics, time keeping, rendering, isolation, scripted experts."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede importing mujoco

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim  # noqa: E402
from sim.backends import make_backend  # noqa: E402
from sim.backends.bullet_backend import BulletBackend  # noqa: E402
from sim.kinematics import chain_for  # noqa: E402
from sim.robot import PANDA  # noqa: E402
from sim.scene import SceneSpec  # noqa: E402

SIZE = (84, 84)
HOME = np.array(PANDA.home_q)
OPEN = PANDA.finger_open
GOAL = np.array([0.6, -0.1, 0.15])


@pytest.fixture
def make():
    """make_backend that closes every backend it built."""
    built = []

    def _make(name="bullet", scene=None, size=SIZE):
        built.append(make_backend(name, PANDA, scene or SceneSpec(), size))
        return built[-1]

    yield _make
    for b in built:
        b.close()


def _reset(b, cube=(0.5, 0.05, 0.02), yaw=0.0, q=HOME):
    b.reset(np.asarray(q), OPEN, np.asarray(cube), yaw, GOAL)


def _random_q(rng, n):
    lo, hi = PANDA.joint_limits()
    return rng.uniform(lo, hi, (n, len(lo)))


def _red_centroid(img):
    """(x, y) pixel centroid of the red cube, and its pixel count."""
    img = img.astype(int)
    mask = (img[..., 0] > 120) & (img[..., 1] < 80) & (img[..., 2] < 80)
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else None, int(mask.sum())


def test_registered_and_named(make):
    b = make()
    assert isinstance(b, BulletBackend)
    assert b.name == "bullet"
    assert "bullet" in sim.list_backends()


def test_fk_agrees_with_numpy_chain_and_mujoco(make):
    """panda_grasptarget within 1 mm over 1,000 random configurations within the limits."""
    bullet, mj = make("bullet"), make("mujoco")
    chain = chain_for(PANDA)
    qs = _random_q(np.random.default_rng(0), 1000)
    T_np = np.stack([chain.fk(q) for q in qs])
    T_pb = np.stack([bullet.link_pose(q, PANDA.ee_link) for q in qs])
    T_mj = np.stack([mj.link_pose(q, PANDA.ee_link) for q in qs])
    for T in (T_pb, T_mj):
        pos_err = np.linalg.norm(T[:, :3, 3] - T_np[:, :3, 3], axis=1)
        assert pos_err.max() < 1e-3, f"max TCP position error {pos_err.max():.2e} m"
        assert np.abs(T[:, :3, :3] - T_np[:, :3, :3]).max() < 1e-3
        np.testing.assert_allclose(T[:, 3], np.tile([0.0, 0.0, 0.0, 1.0], (len(qs), 1)))


def test_link_pose_leaves_the_simulation_alone(make):
    b = make()
    _reset(b)
    for _ in range(3):
        b.step()
    q, qd, tcp, t = b.arm_q(), b.arm_qd(), b.tcp_pos(), b.time()
    for qr in _random_q(np.random.default_rng(1), 20):
        b.link_pose(qr, "panda_hand")
    np.testing.assert_array_equal(b.arm_q(), q)
    np.testing.assert_array_equal(b.arm_qd(), qd)
    np.testing.assert_allclose(b.tcp_pos(), tcp, atol=1e-12)
    assert b.time() == t
    np.testing.assert_allclose(b.link_pose(q, "panda_link0"), np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match="panda_hand"):
        b.link_pose(q, "no_such_link")


def test_reset_state_and_time(make):
    b = make()
    yaw = 0.3
    _reset(b, cube=(0.45, -0.1, 0.02), yaw=yaw)
    assert b.time() == 0.0
    np.testing.assert_allclose(b.arm_q(), HOME, atol=1e-12)
    np.testing.assert_allclose(b.arm_qd(), 0.0, atol=1e-12)
    assert b.finger_width() == pytest.approx(2 * OPEN)
    np.testing.assert_allclose(b.tcp_pos(), chain_for(PANDA).fk(HOME)[:3, 3], atol=1e-6)
    pos, quat = b.object_pose()
    np.testing.assert_allclose(pos, [0.45, -0.1, 0.02], atol=1e-12)
    # Scalar first (w, x, y, z), a pure yaw.
    np.testing.assert_allclose(quat, [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)], atol=1e-9)
    np.testing.assert_allclose(b.object_velocity(), 0.0)
    assert b.fingers_touch_object() == (False, False)

    for k in range(1, 11):
        b.step()
        assert b.time() == pytest.approx(k * b.control_dt, abs=1e-9)
    # Targets equal to the reset pose: the arm holds it against gravity, the cube rests.
    assert np.abs(b.arm_q() - HOME).max() < 5e-3
    pos, _ = b.object_pose()
    np.testing.assert_allclose(pos, [0.45, -0.1, 0.02], atol=2e-3)

    _reset(b)
    assert b.time() == 0.0


def test_servo_response_matches_mujoco(make):
    """Each joint's step response, control period by control period, as in MuJoCo."""
    target = HOME + np.array([0.2, 0.1, -0.1, 0.15, 0.1, -0.1, 0.2])
    fractions = []
    for name in ("bullet", "mujoco"):
        b = make(name)
        _reset(b)
        b.set_targets(target, 0.0)
        rows = []
        for _ in range(8):
            b.step()
            rows.append((b.arm_q() - HOME) / (target - HOME))
        fractions.append(np.array(rows))
        if name == "bullet":
            assert np.abs(b.arm_q() - target).max() < 0.01
            assert b.finger_width() < 2e-3  # both fingers follow the one target
    np.testing.assert_allclose(fractions[0], fractions[1], atol=0.1)


def test_render_shape_dtype_and_wrist_follows_hand(make):
    scene = SceneSpec()
    b = make(size=(48, 64))
    _reset(b)
    frames = {cam.name: b.render(cam) for cam in scene.cameras}
    for name, img in frames.items():
        assert img.shape == (48, 64, 3), name
        assert img.dtype == np.uint8
        assert img.flags["C_CONTIGUOUS"]
        assert img.std() > 5, f"{name} frame is blank"
    # Turning the hand turns what the wrist camera sees.
    wrist = scene.camera("wrist")
    c0, _ = _red_centroid(frames["wrist"])
    _reset(b, q=HOME + np.array([0, 0, 0, 0, 0, 0, 0.5]))
    c1, _ = _red_centroid(b.render(wrist))
    assert np.linalg.norm(c1 - c0) > 3, (c0, c1)


@pytest.mark.parametrize("camera", ["front", "side", "wrist"])
def test_cube_seen_where_mujoco_sees_it(make, camera):
    scene = SceneSpec()
    cam = scene.camera(camera)
    bullet, mj = make("bullet"), make("mujoco")
    rng = np.random.default_rng(2)
    for _ in range(3):
        cube = (*rng.uniform([0.4, -0.12], [0.6, 0.12]), 0.02)
        yaw = rng.uniform(-0.3, 0.3)
        q = HOME + rng.normal(0.0, 0.05, 7)
        seen = []
        for b in (bullet, mj):
            _reset(b, cube, yaw, q)
            seen.append(_red_centroid(b.render(cam)))
        (c_pb, n_pb), (c_mj, n_mj) = seen
        assert n_pb > 10 and n_mj > 10, f"cube not visible: {n_pb} / {n_mj} pixels"
        assert np.linalg.norm(c_pb - c_mj) < 2.0, f"centroids {c_pb} vs {c_mj} at {cube}"


def test_apply_scene_changes_dynamics_and_looks(make):
    b = make()
    _reset(b)
    cam = SceneSpec().camera("front")
    before = _red_centroid(b.render(cam))[1]
    blue = replace(SceneSpec(), object_rgba=(0.1, 0.2, 0.9, 1.0), object_mass=0.3)
    b.apply_scene(blue)
    assert _red_centroid(b.render(cam))[1] == 0 < before
    info = b._client.getDynamicsInfo(b._cube, -1)
    assert info[0] == pytest.approx(0.3)
    b.apply_scene(replace(blue, object_friction=0.7))
    assert b._client.getDynamicsInfo(b._cube, -1)[1] == pytest.approx(0.7)


def _coast(b, joint=0, steps=24):
    """Velocity of an unpowered, gravity-free arm joint 0.1 s after a 1 rad/s kick."""
    import pybullet as p

    c = b._client
    c.setGravity(0.0, 0.0, 0.0)
    c.setJointMotorControlArray(b._robot, b._arm, p.VELOCITY_CONTROL, forces=[0.0] * 7)
    c.resetJointState(b._robot, b._arm[joint], 0.0, 1.0)
    for _ in range(steps):
        c.stepSimulation()
    return c.getJointState(b._robot, b._arm[joint])[1]


def test_joint_damping_scale_damps_the_arm(make):
    # PyBullet's getJointInfo does not report damping set by changeDynamics: measure it.
    low = _coast(make(scene=replace(SceneSpec(), joint_damping_scale=1.0)))
    high = _coast(make(scene=replace(SceneSpec(), joint_damping_scale=10.0)))
    assert 0 < high < low < 1.0


def test_two_backends_coexist(make):
    a, b = make(), make()
    _reset(a, cube=(0.45, 0.0, 0.02))
    _reset(b, cube=(0.55, 0.1, 0.12))  # dropped from 10 cm
    for _ in range(10):
        a.step()
        b.step()
    np.testing.assert_allclose(a.object_pose()[0], [0.45, 0.0, 0.02], atol=2e-3)
    np.testing.assert_allclose(b.object_pose()[0], [0.55, 0.1, 0.02], atol=2e-3)
    a.close()
    b.step()
    assert b.time() == pytest.approx(11 * b.control_dt)


def test_close_is_idempotent(make):
    import pybullet as p

    b, other = make(), make()
    cid, other_cid = b._client._client, other._client._client
    assert cid != other_cid and p.isConnected(physicsClientId=cid)
    b.close()
    assert not p.isConnected(physicsClientId=cid)  # its physics server is gone
    b.close()  # a second close is a no-op, not an error
    assert not p.isConnected(physicsClientId=cid)
    # Closing one backend leaves another one's simulation running.
    assert p.isConnected(physicsClientId=other_cid)
    _reset(other)
    other.step()
    assert other.time() == pytest.approx(other.control_dt)


def test_same_seed_same_episode_after_any_other():
    """Contacts (cached impulses, friction anchors) must not leak from one episode into
    the next: PyBullet keeps them across resetBasePositionAndOrientation."""
    env = sim.make("panda-lift", backend="bullet", cameras=())
    policy = sim.expert("panda-lift")

    def run(seed):
        obs, info = env.reset(seed=seed)
        states = [obs["state"]]
        for _ in range(40):  # through the grasp and into the lift
            obs, _, _, _, info = env.step(policy(obs, info))
            states.append(obs["state"])
        return np.array(states)

    try:
        first = run(0)
        assert first[-1][20] > 0.05, "the expert should have lifted the cube"
        for seed in (1, 0):
            run(seed)
        np.testing.assert_array_equal(run(0), first)
    finally:
        env.close()
