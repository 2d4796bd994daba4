"""`sim.state` is the one source of the ``state`` layout: the env's state is its fields, in
both modes (the bridge's side: tests/hardware/test_hw_state_layout.py)."""

import numpy as np
import pytest

import sim
from sim import state as layout


@pytest.mark.parametrize("mode", layout.STATE_MODES)
def test_the_env_state_has_the_layouts_size(mode):
    e = sim.make("panda-reach", cameras=(), state=mode)
    try:
        obs, _ = e.reset(seed=0)
        assert obs["state"].shape == (layout.state_dim(mode),)
        assert e.observation_space["state"].shape == (layout.state_dim(mode),)
    finally:
        e.close()


def test_the_full_state_is_the_fields_in_order():
    e = sim.make("panda-push", cameras=(), state="full")
    try:
        obs, info = e.reset(seed=1)
        s, p = obs["state"], info["privileged"]
        offsets, at = {}, 0
        for name, n in layout.state_fields("full"):
            offsets[name] = slice(at, at + n)
            at += n
        assert at == s.size == layout.PROPRIO_DIM + layout.OBJECT_DIM
        np.testing.assert_allclose(s[offsets["tcp"]], p["tcp"], atol=1e-6)
        np.testing.assert_allclose(s[offsets["object_pos"]], p["object_pos"], atol=1e-6)
        np.testing.assert_allclose(s[offsets["goal"]], p["goal_pos"], atol=1e-6)
        want = layout.object_state(
            p["tcp"], p["object_pos"], np.zeros(4), np.zeros(3), p["goal_pos"]
        )
        tail = layout.OBJECT_DIM - 9
        np.testing.assert_allclose(s[-9:], want[tail:], atol=1e-5)
    finally:
        e.close()


def test_the_old_names_in_sim_env_are_the_layouts():
    from sim import env

    for name in ("PROPRIO_DIM", "OBJECT_DIM", "RELATIVE_SCALE", "STATE_MODES"):
        assert getattr(env, name) == getattr(layout, name)
    assert env.state_layout is layout.state_layout and env.proprio_state is layout.proprio_state
    assert layout.state_layout() == "panda proprio: q[7] qd[7] tcp[3] finger_width[1]"


def test_an_unknown_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match="'half'.*'full', 'proprio'"):
        layout.state_fields("half")
