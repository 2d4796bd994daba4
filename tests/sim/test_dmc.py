"""Tests of the dm_control suite adapter (sim/dmc.py): contract 1 over every registered task."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede importing mujoco

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

from sim.dmc import DMC_TASKS, SUCCESS_THRESHOLD, list_dmc_tasks, make_dmc  # noqa: E402

INFO_KEYS = {"success", "progress", "task_reward", "action_clipped", "clip_count"}


@pytest.fixture
def make():
    """make_dmc that closes every env it built, so no GL context outlives its test."""
    envs = []

    def _make(name="dmc:walker-walk", **kwargs):
        envs.append(make_dmc(name, **kwargs))
        return envs[-1]

    yield _make
    for env in envs:
        env.close()


def _actions(env, n, seed=0):
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    return [rng.uniform(low, high).astype(np.float32) for _ in range(n)]


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    states, rewards = [obs["state"]], []
    for action in actions:
        obs, reward, *_ = env.step(action)
        states.append(obs["state"])
        rewards.append(reward)
    return np.stack(states), np.array(rewards)


@pytest.mark.parametrize("name", sorted(DMC_TASKS))
def test_spaces_and_steps_follow_the_contract(make, name):
    env = make(name, seed=0)
    assert set(env.observation_space.spaces) == {"state"}
    state_space = env.observation_space["state"]
    assert state_space.dtype == np.float32 and len(state_space.shape) == 1
    assert env.action_space.dtype == np.float32
    assert np.all(env.action_space.low < env.action_space.high)

    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and np.all(np.isfinite(obs["state"]))
    assert set(info) == INFO_KEYS
    for action in _actions(env, 5):
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs in env.observation_space and np.all(np.isfinite(obs["state"]))
        assert isinstance(reward, float) and 0.0 <= reward <= 1.0
        assert terminated is False and truncated is False
        assert set(info) == INFO_KEYS
        assert 0.0 <= info["progress"] <= 1.0 and info["task_reward"] == reward
        assert info["success"] == (info["progress"] >= SUCCESS_THRESHOLD)


def test_state_is_the_sorted_concatenation_of_dm_control_observations(make):
    env = make("dmc:walker-walk", seed=0)
    obs, _ = env.reset(seed=0)
    # walker: height (1) + orientations (14) + velocity (9), in sorted key order.
    assert obs["state"].shape == (24,)
    dm_obs = env.dm_env.task.get_observation(env.dm_env.physics)
    expected = np.concatenate([np.ravel(dm_obs[k]) for k in sorted(dm_obs)]).astype(np.float32)
    np.testing.assert_array_equal(obs["state"], expected)


def test_cameras_by_name_and_id_give_images_under_their_names(make):
    env = make("dmc:walker-walk", seed=0, cameras=("side", 1), image_size=32)
    assert set(env.observation_space.spaces) == {"state", "side", "back"}
    obs, _ = env.reset(seed=0)
    for key in ("side", "back"):
        assert obs[key].shape == (32, 32, 3) and obs[key].dtype == np.uint8
        assert obs[key].std() > 1.0  # an actual picture, not a blank buffer
    assert not np.array_equal(obs["side"], obs["back"])
    obs, *_ = env.step(env.action_space.sample())
    assert obs in env.observation_space


def test_render_returns_the_first_camera_frame(make):
    env = make("dmc:walker-walk", seed=0, cameras=("back",), image_size=32, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(env.render(), obs["back"])
    state_only = make("dmc:walker-walk", seed=0, image_size=24, render_mode="rgb_array")
    state_only.reset(seed=0)
    assert state_only.render().shape == (24, 24, 3)
    with pytest.warns(UserWarning, match="render_mode"):
        assert make("dmc:walker-walk").render() is None


def test_same_seed_same_rollout_and_different_seed_differs(make):
    env_a, env_b = make("dmc:walker-walk", seed=0), make("dmc:walker-walk", seed=0)
    actions = _actions(env_a, 20)
    states_a, rewards_a = _rollout(env_a, 7, actions)
    states_b, rewards_b = _rollout(env_b, 7, actions)
    np.testing.assert_array_equal(states_a, states_b)
    np.testing.assert_array_equal(rewards_a, rewards_b)
    # Reseeding an env that has already run reproduces the episode too.
    states_again, rewards_again = _rollout(env_a, 7, actions)
    np.testing.assert_array_equal(states_a, states_again)
    np.testing.assert_array_equal(rewards_a, rewards_again)
    states_other, _ = _rollout(env_a, 8, actions)
    assert not np.array_equal(states_a[0], states_other[0])


def test_construction_seed_makes_unseeded_resets_reproducible(make):
    first = [make("dmc:cheetah-run", seed=3).reset()[0]["state"] for _ in range(2)]
    np.testing.assert_array_equal(*first)
    env = make("dmc:cheetah-run", seed=3)
    # Successive unseeded resets continue the stream: new initial states.
    assert not np.array_equal(env.reset()[0]["state"], env.reset()[0]["state"])


@pytest.mark.parametrize("action_repeat", [1, 2])
def test_time_limit_truncates_and_does_not_terminate(make, action_repeat):
    env = make("dmc:walker-walk", seed=0, time_limit=0.25, action_repeat=action_repeat)
    n_steps = math.ceil(0.25 / env.control_timestep - 1e-9)  # 10 control steps of 25 ms
    assert n_steps == 10 // action_repeat
    env.reset(seed=0)
    for i, action in enumerate(_actions(env, n_steps), start=1):
        _, _, terminated, truncated, _ = env.step(action)
        assert terminated is False
        assert truncated is (i == n_steps)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())
    env.reset()
    env.step(env.action_space.sample())  # a new episode runs again


def test_action_repeat_sums_the_rewards_of_the_repeated_steps(make):
    single, double = make(seed=0, action_repeat=1), make(seed=0, action_repeat=2)
    single.reset(seed=1)
    double.reset(seed=1)
    for action in _actions(single, 3):
        r1 = single.step(action)[1]
        obs1, r1_second, *_ = single.step(action)
        obs2, r2, *_, info = double.step(action)
        assert r2 == pytest.approx(r1 + r1_second, abs=1e-12)
        assert info["progress"] == pytest.approx(r2 / 2)
        np.testing.assert_array_equal(obs1["state"], obs2["state"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_is_refused(make, bad):
    env = make(seed=0)
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, np.float32)
    action[2] = bad
    with pytest.raises(ValueError, match="finite"):
        env.step(action)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))


def test_out_of_bound_actions_are_clipped_and_counted(make):
    env = make("dmc:quadruped-walk", seed=0)
    env.reset(seed=0)
    high = env.action_space.high
    counts = []
    for action in (2 * high, high, 0 * high, -3 * high, high):
        _, _, _, _, info = env.step(action)
        counts.append((info["action_clipped"], info["clip_count"]))
    # The bound itself (1.1 is not exact in float32) is not a clip.
    assert counts == [(True, 1), (False, 1), (False, 1), (True, 2), (False, 2)]
    assert env.reset(seed=0)[1]["clip_count"] == 0
    assert env.step(2 * high)[4]["clip_count"] == 1


def test_unknown_task_error_lists_registered_names():
    with pytest.raises(ValueError, match="unknown dm_control task 'dmc:walker-fly'") as err:
        make_dmc("dmc:walker-fly")
    for name in DMC_TASKS:
        assert name in str(err.value)


def test_suite_benchmark_names_are_accepted(make):
    names = list_dmc_tasks()
    assert set(DMC_TASKS) <= set(names) and "dmc:ball_in_cup-catch" in names
    assert names == sorted(names)
    env = make("dmc:ball_in_cup-catch", seed=0)
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space


@pytest.mark.parametrize("camera", ["top", 2, -1, 0.5])
def test_unknown_camera_error_lists_valid_cameras(camera):
    with pytest.raises(ValueError, match="unknown camera") as err:
        make_dmc("dmc:walker-walk", cameras=(camera,))
    assert "'side'" in str(err.value) and "'back'" in str(err.value)


def test_same_camera_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        make_dmc("dmc:walker-walk", cameras=("side", 0))


# The state is unbounded by nature and quadruped's action bounds are dm_control's own spec,
# so the checker's advice about both is expected.
CHECKER_ADVICE = [
    "ignore:.*Box observation space m.*infinity:UserWarning",
    "ignore:.*symmetric and normalized space:UserWarning",
]


@pytest.mark.filterwarnings(*CHECKER_ADVICE)
@pytest.mark.parametrize("name", sorted(DMC_TASKS))
def test_gymnasium_env_checker_passes(make, name):
    check_env(make(name, seed=0), skip_render_check=True)


@pytest.mark.filterwarnings(*CHECKER_ADVICE)
def test_gymnasium_env_checker_passes_with_a_camera(make):
    check_env(make(seed=0, cameras=("side",), image_size=16), skip_render_check=True)
