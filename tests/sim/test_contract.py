"""Contract tests over every Panda task and both backends (DESIGN.md contracts 1 and 2)."""

import numpy as np
import pytest

import sim

PANDA_TASKS = sim.list_tasks(include_dmc=False)
BACKENDS = sim.list_backends()


@pytest.fixture(
    scope="module",
    params=[(t, b) for b in BACKENDS for t in PANDA_TASKS],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def env(request):
    task, backend = request.param
    e = sim.make(task, backend=backend, image_size=(48, 64))
    yield e
    e.close()


def _check_obs(env, obs):
    assert set(obs) == {"state", "front", "side", "wrist"}
    assert obs["state"].dtype == np.float32
    assert np.all(np.isfinite(obs["state"]))
    for cam in ("front", "side", "wrist"):
        assert obs[cam].shape == (48, 64, 3) and obs[cam].dtype == np.uint8
        assert obs[cam].std() > 1.0, f"{cam} image is blank"
    assert env.observation_space.contains(obs)


def test_spaces_keys_dtypes_and_info(env):
    assert env.action_space.shape == (4,)
    assert env.action_space.dtype == np.float32
    obs, info = env.reset(seed=3)
    _check_obs(env, obs)
    for key in ("success", "progress", "phase", "action_clipped", "clip_count"):
        assert key in info
    assert 0.0 <= info["progress"] <= 1.0 and not info["success"]
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, reward, term, trunc, info = env.step(
            env.action_space.sample() * 0 + rng.uniform(-1, 1, 4)
        )
        _check_obs(env, obs)
        assert reward in (0.0, 1.0)
        assert isinstance(term, bool) and isinstance(trunc, bool)
        assert 0.0 <= info["progress"] <= 1.0


def test_seeding_same_seed_same_episode(env):
    actions = np.random.default_rng(1).uniform(-1, 1, (8, 4)).astype(np.float32)

    def run(seed):
        obs, _ = env.reset(seed=seed)
        states, frames = [obs["state"]], [obs["front"]]
        for a in actions:
            obs, *_ = env.step(a)
            states.append(obs["state"])
            frames.append(obs["front"])
        return np.array(states), np.array(frames)

    s1, f1 = run(11)
    s2, f2 = run(11)
    s3, _ = run(12)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(f1, f2)
    assert not np.allclose(s1[0], s3[0]), "different seeds gave the same placement"


def test_time_limit_is_truncation_not_termination(env):
    env.reset(seed=0)
    env.max_steps, saved = 3, env.max_steps
    try:
        out = [env.step(np.zeros(4, np.float32)) for _ in range(3)]
    finally:
        env.max_steps = saved
    assert [o[3] for o in out] == [False, False, True]
    assert not any(o[2] for o in out)


def test_out_of_bound_actions_are_clipped_and_counted(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([5.0, 0, 0, 1], np.float32))
    assert info["action_clipped"] and info["clip_count"] == 1
    _, _, _, _, info = env.step(np.array([0.5, 0, 0, 1], np.float32))
    assert not info["action_clipped"] and info["clip_count"] == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_is_a_clear_error(env, bad):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([0, bad, 0, 0], np.float32))


def test_state_only_and_proprio_modes():
    e = sim.make("panda-push", cameras=(), state="proprio")
    try:
        obs, _ = e.reset(seed=0)
        assert set(obs) == {"state"} and obs["state"].shape == (18,)
    finally:
        e.close()


@pytest.mark.parametrize("backend", ["mujoco", "bullet"])
def test_full_state_ends_with_the_relative_vectors_in_decimetres(backend):
    from sim.env import PROPRIO_DIM, RELATIVE_SCALE

    e = sim.make("panda-reach", backend=backend, cameras=())
    try:
        obs, info = e.reset(seed=3)
        s, p = obs["state"], info["privileged"]
        assert s.shape == (40,)
        tcp, cube, goal = (np.asarray(p[k]) for k in ("tcp", "object_pos", "goal_pos"))
        np.testing.assert_allclose(s[14:17], tcp, atol=1e-6)  # proprio: TCP in metres
        rel = s[PROPRIO_DIM + 13 :]
        want = RELATIVE_SCALE * np.concatenate([cube - tcp, goal - cube, goal - tcp])
        np.testing.assert_allclose(rel, want, atol=1e-5)
    finally:
        e.close()


def test_episodes_go_on_after_success_when_asked():
    e = sim.make("panda-reach", cameras=(), terminate_on_success=False)
    expert = sim.expert("panda-reach")
    try:
        obs, info = e.reset(seed=0)
        successes, steps, done = 0, 0, False
        while not done:
            obs, r, term, trunc, info = e.step(expert(obs, info))
            successes, steps, done = successes + r, steps + 1, term or trunc
        assert not term and trunc and steps == e.max_steps  # only the time limit ends it
        assert successes > 10  # the expert holds the goal and is rewarded on every step
    finally:
        e.close()
