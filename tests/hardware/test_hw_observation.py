"""The bridge's observation equals PandaTaskEnv's (state="proprio"): keys, shapes, values."""

import numpy as np
import pytest

from hardware.core.errors import MessageError
from hardware.core.observation import (
    ObservationBuilder,
    fit_image,
    joint_velocity,
    observation_space,
)
from hardware.core.samples import JointStateSample
from sim.controller import EEDeltaController
from sim.env import PROPRIO_DIM


def test_space_matches_the_sim_env(stand_in):
    env_space = stand_in.env.observation_space
    space = observation_space(7, ("front",), (84, 84))
    assert space == env_space
    assert space["state"].shape == (PROPRIO_DIM,)


def test_state_equals_the_sim_observation_at_the_same_physical_state(stand_in):
    stand_in.reset(seed=4)
    obs_sim, _ = stand_in.env.reset(seed=4)  # the same placement, arm at home, at rest
    ctrl = EEDeltaController(stand_in.env.robot)
    cfg = stand_in.config
    b = ObservationBuilder(
        cfg.arm_joints, cfg.gripper_joints, lambda q: ctrl.tcp_pose(q)[:3, 3], ("front",), (84, 84)
    )
    js = stand_in.joint_state()
    obs = b.build(js, js.velocity, stand_in.frames())
    assert obs.keys() == obs_sim.keys()
    for k in obs:
        assert obs[k].dtype == obs_sim[k].dtype and obs[k].shape == obs_sim[k].shape
    np.testing.assert_allclose(obs["state"], obs_sim["state"], atol=1e-6)
    assert np.array_equal(obs["front"], obs_sim["front"])
    assert stand_in.env.observation_space.contains(obs)


def test_fit_image_crops_to_aspect_then_resizes():
    img = np.zeros((480, 640, 3), np.uint8)
    img[:, :80] = 255  # a band that the centre crop removes
    img[:, 80:560] = 100
    out = fit_image(img, (84, 84))
    assert out.shape == (84, 84, 3) and out.dtype == np.uint8
    assert (out == 100).all()
    tall = np.full((100, 40, 3), 7, np.uint8)
    assert fit_image(tall, (20, 40)).shape == (20, 40, 3)
    same = np.zeros((84, 84, 3), np.uint8)
    assert fit_image(same, (84, 84)) is same
    up = fit_image(np.full((10, 10, 3), 9, np.uint8), (84, 84))
    assert up.shape == (84, 84, 3) and (up == 9).all()


def test_depth_or_grey_frames_are_refused_for_policy_cameras():
    with pytest.raises(MessageError, match="RGB uint8"):
        fit_image(np.zeros((84, 84), np.uint16), (84, 84))


def test_velocity_falls_back_to_finite_differences():
    names = ("a", "b")
    prev = JointStateSample(1.0, names, np.array([0.0, 1.0]))
    cur = JointStateSample(1.5, names, np.array([0.5, 0.0]))
    assert joint_velocity(cur, prev).tolist() == [1.0, -2.0]
    assert joint_velocity(cur, None).tolist() == [0.0, 0.0]
    given = JointStateSample(1.5, names, np.zeros(2), np.array([3.0, 4.0]))
    assert joint_velocity(given, prev).tolist() == [3.0, 4.0]
