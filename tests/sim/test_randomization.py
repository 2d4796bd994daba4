"""Domain randomization: off by default, seeded, within its ranges, visible in the sim."""

import numpy as np
import pytest

import sim
from sim.randomization import RandomizationConfig, sample
from sim.scene import SceneSpec


def test_off_by_default_gives_the_nominal_scene():
    env = sim.make("panda-push", cameras=())
    try:
        env.reset(seed=0)
        assert env._scene == env.base_scene
        assert env.backend.model.body_mass[env.backend._obj_body] == pytest.approx(0.1)
    finally:
        env.close()


def test_samples_stay_within_configured_ranges():
    cfg = RandomizationConfig()
    base = SceneSpec()
    rng = np.random.default_rng(0)
    draws = [sample(cfg, base, rng) for _ in range(300)]
    masses = np.array([d.scene.object_mass for d in draws]) / base.object_mass
    assert masses.min() >= 0.5 and masses.max() <= 2.0 and masses.std() > 0.1
    fr = np.array([d.scene.object_friction for d in draws])
    assert fr.min() >= 0.6 and fr.max() <= 1.2
    damp = np.array([d.scene.joint_damping_scale for d in draws])
    assert damp.min() >= 0.7 and damp.max() <= 1.5
    for d in draws:
        for cam, ref in zip(d.scene.cameras, base.cameras):
            assert np.abs(np.subtract(cam.pos, ref.pos)).max() <= cfg.camera_pos_jitter
            assert abs(cam.fovy - ref.fovy) <= cfg.camera_fov_jitter
        assert 0 <= d.action_latency <= cfg.action_latency_max
        assert d.scene.object_rgba[0] >= 0.6  # the cube stays red
    assert {d.action_latency for d in draws} == {0, 1}


def test_randomized_episodes_are_seeded_and_reach_the_simulator():
    env = sim.make("panda-lift", randomize=True, image_size=32)
    try:
        obs_a, _ = env.reset(seed=5)
        mass_a = env.backend.model.body_mass[env.backend._obj_body]
        fov_a = env.backend.model.cam_fovy.copy()
        obs_b, _ = env.reset(seed=6)
        mass_b = env.backend.model.body_mass[env.backend._obj_body]
        obs_c, _ = env.reset(seed=5)
        assert mass_a != mass_b
        assert env.backend.model.body_mass[env.backend._obj_body] == mass_a
        np.testing.assert_array_equal(env.backend.model.cam_fovy, fov_a)
        np.testing.assert_array_equal(obs_a["state"], obs_c["state"])
        np.testing.assert_array_equal(obs_a["front"], obs_c["front"])
        assert not np.array_equal(obs_a["front"], obs_b["front"])
    finally:
        env.close()


def test_observation_noise_and_action_latency():
    cfg = {"obs_noise_std": 0.01, "action_latency_max": 1}
    env = sim.make("panda-reach", cameras=(), randomize=cfg)
    try:
        # Find a seed whose episode draws one step of latency: the first action is delayed.
        for seed in range(20):
            env.reset(seed=seed)
            if len(env._pending) == 1:
                break
        else:
            pytest.fail("no episode drew an action latency of 1")
        q0 = env.backend.arm_q()
        env.step(np.array([1.0, 0, 0, 1], np.float32))  # the robot receives zeros now
        assert np.abs(env.backend.arm_q() - q0).max() < 0.01
    finally:
        env.close()
    env = sim.make("panda-reach", cameras=(), randomize={"obs_noise_std": 0.01})
    try:
        s1 = env.reset(seed=0)[0]["state"]
        env2 = sim.make("panda-reach", cameras=())
        s0 = env2.reset(seed=0)[0]["state"]
        env2.close()
        noise = s1[:7] - s0[:7]  # the arm starts at home in both
        assert 0.001 < np.abs(noise).max() < 0.06
    finally:
        env.close()
