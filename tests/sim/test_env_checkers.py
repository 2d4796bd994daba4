"""Gymnasium's and SB3's own environment checkers over every Panda task and both backends.

They catch what our contract tests did not think of, e.g. ``info`` arrays that alias the
env's live state (issue 15: writing to ``info["privileged"]["goal_pos"]`` moved the goal).
State-only environments keep this fast; one camera case per backend covers image keys.
"""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import sim

PANDA_TASKS = sim.list_tasks(include_dmc=False)
BACKENDS = sim.list_backends()
PAIRS = [(t, b) for b in BACKENDS for t in PANDA_TASKS]
IDS = [f"{t}-{b}" for t, b in PAIRS]


def _make(task, backend, **options):
    options.setdefault("cameras", ())
    return sim.make(task, backend=backend, **options)


@pytest.mark.parametrize(("task", "backend"), PAIRS, ids=IDS)
def test_gymnasium_env_checker_passes(task, backend):
    env = _make(task, backend)
    try:
        with warnings.catch_warnings():
            # The only warning it gives: the state Box is unbounded, which it is by design.
            warnings.filterwarnings("ignore", message=".*infinity.*")
            gym_check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize(("task", "backend"), PAIRS, ids=IDS)
def test_sb3_env_checker_passes(task, backend):
    env = _make(task, backend)
    try:
        sb3_check_env(env, warn=True)
    finally:
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_env_checkers_pass_with_a_camera(backend):
    env = _make("panda-reach", backend, cameras=("front",), image_size=48)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*infinity.*")
            gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    finally:
        env.close()


def _rollout(env, seed, mutate, n=4):
    """Observations, rewards, flags and infos of ``n`` zero-action steps after reset."""
    obs, info = env.reset(seed=seed)
    out = []
    for _ in range(n):
        if mutate:  # what a careless caller may do with what it was given
            p = info["privileged"]
            p["goal_pos"][:] = p["tcp"]
            p["tcp"][:] = 9.0
            p["object_pos"][:] = -9.0
            obs["state"][:] = 0.0
        obs, r, term, trunc, info = env.step(np.zeros(4, np.float32))
        p = info["privileged"]
        out.append(
            (
                obs["state"].copy(),
                r,
                term,
                trunc,
                info["success"],
                info["progress"],
                p["goal_pos"].copy(),
                p["tcp"].copy(),
                p["object_pos"].copy(),
            )
        )
    return out


@pytest.mark.parametrize(("task", "backend"), PAIRS, ids=IDS)
def test_writing_to_returned_arrays_does_not_change_the_env(task, backend):
    env = _make(task, backend)
    try:
        clean = _rollout(env, seed=5, mutate=False)
        dirty = _rollout(env, seed=5, mutate=True)
    finally:
        env.close()
    for step, (a, b) in enumerate(zip(clean, dirty, strict=True)):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"step {step} differs")


@pytest.mark.parametrize("backend", BACKENDS)
def test_moving_the_info_goal_onto_the_tcp_does_not_solve_reach(backend):
    # The exploit of issue 15: one zero action gave reward 1, terminated and success.
    env = _make("panda-reach", backend)
    try:
        obs, info = env.reset(seed=0)
        goal = info["privileged"]["goal_pos"].copy()
        info["privileged"]["goal_pos"][:] = info["privileged"]["tcp"]
        _, reward, terminated, _, info = env.step(np.zeros(4, np.float32))
    finally:
        env.close()
    assert reward == 0.0 and not terminated and not info["success"]
    np.testing.assert_array_equal(info["privileged"]["goal_pos"], goal)
