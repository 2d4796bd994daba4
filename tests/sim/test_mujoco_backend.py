"""MuJoCo backend specifics: light rendering settings, divergence is an error."""

import numpy as np
import pytest

from sim.backends import make_backend
from sim.backends.mujoco_backend import SimulationUnstableError
from sim.robot import PANDA
from sim.scene import SceneSpec


@pytest.fixture()
def backend():
    b = make_backend("mujoco", PANDA, SceneSpec(), (40, 40))
    b.reset(np.array(PANDA.home_q), 0.04, np.array([0.5, 0, 0.02]), 0.0, np.array([0.6, 0, 0.1]))
    yield b
    b.close()


def test_fast_render_settings_are_in_the_model(backend):
    m = backend.model
    assert m.vis.quality.shadowsize == 0 and m.vis.quality.offsamples == 0
    assert (m.vis.global_.offwidth, m.vis.global_.offheight) == (40, 40)
    assert m.nmeshface < 5000, "rendered meshes must stay light"


def test_divergence_raises_instead_of_silently_resetting(backend):
    backend.data.qvel[backend._obj_dadr] = 1e12
    with pytest.raises(SimulationUnstableError, match="diverged"):
        backend.step()


def test_gravity_compensated_arm_holds_its_pose(backend):
    q0 = backend.arm_q()
    for _ in range(20):
        backend.step()
    assert np.abs(backend.arm_q() - q0).max() < 2e-3
    assert backend.time() == pytest.approx(20 * backend.control_dt)


def test_wrist_camera_moves_with_the_hand(backend):
    wrist = backend.scene.camera("wrist")
    img0 = backend.render(wrist)
    q = np.array(PANDA.home_q)
    q[0] += 0.5
    backend.reset(q, 0.04, np.array([0.5, 0, 0.02]), 0.0, np.array([0.6, 0, 0.1]))
    assert not np.array_equal(img0, backend.render(wrist))
    front = backend.scene.camera("front")
    assert backend.render(front).shape == (40, 40, 3)
