"""Potential-based shaping: policy invariance on exact tabular MDPs, the progress-as-reward
trap, the episode-boundary rules, and the gymnasium wrapper against the batch function."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit
from hypothesis import given, settings
from hypothesis import strategies as st

from robopref.rewards import NonFinitePotentialError, PotentialShapingWrapper, shaping_terms

# --------------------------------------------------------------------------------------
# Exact tabular solver
# --------------------------------------------------------------------------------------


def optimal_q(P: np.ndarray, R: np.ndarray, terminal: np.ndarray, gamma: float) -> np.ndarray:
    """Q* of a finite MDP by policy iteration with exact (linear-solve) policy evaluation.

    ``P[s, a, s']`` are transition probabilities, ``R[s, a, s']`` rewards; entering a state
    with ``terminal[s']`` ends the episode, so nothing is bootstrapped from it.
    """
    n_s, n_a, _ = P.shape
    r_sa = np.einsum("ijk,ijk->ij", P, R)
    cont = gamma * P * (~terminal)[None, None, :]
    pi = np.zeros(n_s, dtype=int)
    rows = np.arange(n_s)
    for _ in range(1000):
        v = np.linalg.solve(np.eye(n_s) - cont[rows, pi], r_sa[rows, pi])
        q = r_sa + cont @ v
        best = q.argmax(axis=1)
        # Switch only on a strict improvement, so ties cannot make the iteration cycle.
        improve = q[rows, best] > q[rows, pi] + 1e-12
        if not improve.any():
            # Bellman optimality holds: the solver's own sanity check.
            np.testing.assert_allclose(q, r_sa + cont @ q.max(axis=1), atol=1e-9)
            return q
        pi = np.where(improve, best, pi)
    raise AssertionError("policy iteration did not converge")


def shaped_table(
    R: np.ndarray, phi: np.ndarray, terminal: np.ndarray, gamma: float, *, zero_terminal=True
) -> np.ndarray:
    """``R + F`` over all ``(s, a, s')``, with F from the library's batch function."""
    s, _, s2 = np.indices(R.shape)
    done = terminal[s2] if zero_terminal else np.zeros(s2.shape, dtype=bool)
    f = shaping_terms(phi[s].ravel(), phi[s2].ravel(), done.ravel(), gamma)
    return R + f.reshape(R.shape)


def greedy_agrees(q1: np.ndarray, q2: np.ndarray, states: np.ndarray, gap: float = 1e-6):
    """Greedy actions agree in every state of ``states`` whose best action is clear."""
    for s in states:
        top2 = np.sort(q1[s])[-2:]
        if top2[1] - top2[0] > gap:
            assert q1[s].argmax() == q2[s].argmax(), f"greedy action differs in state {s}"


def random_mdp(seed: int):
    rng = np.random.default_rng(seed)
    n_s, n_a = int(rng.integers(6, 13)), int(rng.integers(2, 5))
    P = rng.dirichlet(np.full(n_s, 0.5), size=(n_s, n_a))
    terminal = np.zeros(n_s, dtype=bool)
    terminal[rng.choice(n_s, size=int(rng.integers(1, 4)), replace=False)] = True
    # Absorbing terminals (never acted in: the episode has ended there).
    P[terminal] = np.eye(n_s)[terminal][:, None, :]
    R = rng.normal(size=(n_s, n_a, n_s))
    # Potentials several times larger than the rewards, so a wrong rule would show.
    phi = 5.0 * rng.normal(size=n_s)
    gamma = float(rng.uniform(0.9, 0.99))
    return P, R, terminal, phi, gamma


@pytest.mark.parametrize("seed", range(100))
def test_shaping_preserves_optimal_policy_on_random_mdps(seed):
    P, R, terminal, phi, gamma = random_mdp(seed)
    q = optimal_q(P, R, terminal, gamma)
    q_shaped = optimal_q(P, shaped_table(R, phi, terminal, gamma), terminal, gamma)
    live = np.flatnonzero(~terminal)
    # Ng et al. (1999), Theorem 1: Q*_shaped(s, a) = Q*(s, a) - Phi(s).
    np.testing.assert_allclose(q_shaped[live], q[live] - phi[live, None], rtol=0, atol=1e-8)
    greedy_agrees(q, q_shaped, live)


def test_terminal_potential_must_be_zero():
    """A high potential on a failure state lures the agent there unless Phi(terminal) = 0."""
    # State 0 chooses: action 0 -> goal (reward 1), action 1 -> failure (reward 0).
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    R = np.zeros((3, 2, 3))
    R[0, 0, 1] = 1.0
    terminal = np.array([False, True, True])
    phi = np.array([0.0, 0.0, 5.0])  # the potential model likes the failure state
    gamma = 0.95
    q = optimal_q(P, R, terminal, gamma)
    right = optimal_q(P, shaped_table(R, phi, terminal, gamma), terminal, gamma)
    wrong = optimal_q(
        P, shaped_table(R, phi, terminal, gamma, zero_terminal=False), terminal, gamma
    )
    assert q[0].argmax() == 0 and right[0].argmax() == 0
    assert wrong[0].argmax() == 1


# --------------------------------------------------------------------------------------
# The semantic trap: progress as a reward vs progress as a potential
# --------------------------------------------------------------------------------------

STAY, FORWARD = 0, 1


def progress_chain():
    """States 0..3 at progress 0, 0.3, 0.6, 0.9; state 4 is the (terminal) finished task."""
    progress = np.array([0.0, 0.3, 0.6, 0.9, 1.0])
    n = len(progress)
    P = np.zeros((n, 2, n))
    for s in range(n - 1):
        P[s, STAY, s] = 1.0
        P[s, FORWARD, s + 1] = 1.0
    P[n - 1, :, n - 1] = 1.0
    terminal = np.zeros(n, dtype=bool)
    terminal[-1] = True
    sparse = np.zeros((n, 2, n))
    sparse[:, :, n - 1] = 1.0  # +1 on finishing, nothing else
    progress_reward = np.broadcast_to(progress[None, None, :], (n, 2, n)).copy()
    return P, terminal, progress, sparse, progress_reward


def test_progress_as_reward_changes_the_optimal_policy():
    P, terminal, progress, sparse, progress_reward = progress_chain()
    gamma = 0.95
    live = np.flatnonzero(~terminal)
    q_task = optimal_q(P, sparse, terminal, gamma)
    assert (q_task[live].argmax(axis=1) == FORWARD).all()
    # Hovering at 0.9 earns 0.9 / (1 - gamma) = 18 > 1 for finishing: the agent never finishes.
    q_prog = optimal_q(P, progress_reward, terminal, gamma)
    assert q_prog[3].argmax() == STAY
    assert q_prog[3, STAY] == pytest.approx(0.9 / (1 - gamma))


def test_progress_as_potential_keeps_the_task_policy():
    P, terminal, progress, sparse, _ = progress_chain()
    gamma = 0.95
    live = np.flatnonzero(~terminal)
    q_task = optimal_q(P, sparse, terminal, gamma)
    q_shaped = optimal_q(P, shaped_table(sparse, progress, terminal, gamma), terminal, gamma)
    assert (q_shaped[live].argmax(axis=1) == FORWARD).all()
    np.testing.assert_allclose(q_shaped[live], q_task[live] - progress[live, None], atol=1e-10)


# --------------------------------------------------------------------------------------
# The wrapper on a tiny chain environment
# --------------------------------------------------------------------------------------

N = 5  # chain positions 0..N; reaching N terminates


class Chain(gym.Env):
    """1-D chain: action 1 moves right, 0 left; reaching ``N`` ends the episode with +1."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, N, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.pos = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = int((options or {}).get("start", 0))
        return np.array([self.pos], np.float32), {"from": "env"}

    def step(self, action):
        self.pos = max(0, self.pos + (1 if action == 1 else -1))
        terminated = self.pos == N
        reward = 1.0 if terminated else -0.1
        return np.array([self.pos], np.float32), reward, terminated, False, {"pos": self.pos}


class Progress:
    """``Phi(obs) = pos / N``, counting its calls."""

    name = "chain_progress"

    def __init__(self):
        self.calls = 0

    def __call__(self, obs):
        self.calls += 1
        return np.float32(obs[0] / N)


def make_env(gamma=0.9, scale=1.0, max_steps=50, potential=None):
    potential = potential if potential is not None else Progress()
    env = TimeLimit(Chain(), max_episode_steps=max_steps)
    return PotentialShapingWrapper(env, potential, gamma=gamma, scale=scale)


def rollout(env, actions, start=0):
    """Runs ``actions`` until the episode ends; returns potentials, flags and step infos."""
    _, info = env.reset(options={"start": start})
    phis, infos, rewards = [info["potential"]], [], []
    terminated = truncated = False
    for a in actions:
        _, r, terminated, truncated, info = env.step(a)
        phis.append(info["potential"])
        infos.append(info)
        rewards.append(r)
        if terminated or truncated:
            break
    return np.array(phis), infos, np.array(rewards), terminated, truncated


def test_wrapper_logs_every_term():
    env = make_env(gamma=0.9, scale=2.0)
    _, info = env.reset()
    assert info["potential"] == 0.0 and info["from"] == "env"
    _, reward, terminated, truncated, info = env.step(1)
    assert not (terminated or truncated)
    assert info["reward/task"] == pytest.approx(-0.1)
    assert info["potential"] == pytest.approx(0.2)
    assert info["reward/shaping"] == pytest.approx(2.0 * (0.9 * 0.2 - 0.0))
    assert reward == pytest.approx(info["reward/task"] + info["reward/shaping"])
    assert info["pos"] == 1  # the env's own info passes through
    assert env.observation_space == env.env.observation_space
    assert env.action_space == env.env.action_space


def test_termination_uses_zero_potential():
    env = make_env(gamma=0.9, scale=1.5)
    env.reset(options={"start": N - 1})
    _, reward, terminated, truncated, info = env.step(1)
    assert terminated and not truncated
    phi_s = (N - 1) / N
    assert info["potential"] == pytest.approx(1.0)  # logged as computed ...
    assert info["reward/shaping"] == pytest.approx(-1.5 * phi_s)  # ... but F = -Phi(s)
    assert reward == pytest.approx(1.0 - 1.5 * phi_s)


def test_truncation_is_not_termination():
    env = make_env(gamma=0.9, max_steps=3)
    phis, infos, _, terminated, truncated = rollout(env, [1, 1, 1, 1])
    assert truncated and not terminated and len(infos) == 3
    assert infos[-1]["reward/shaping"] == pytest.approx(0.9 * phis[3] - phis[2])
    assert phis[3] == pytest.approx(3 / N)


@pytest.mark.parametrize(
    ("actions", "start", "max_steps", "ends_terminated"),
    [
        ([1, 0, 1, 1, 0, 1], 1, 6, False),  # truncated at pos 3
        ([1, 1, 0, 1, 1, 1, 1], 1, 20, True),  # terminated at N
    ],
)
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_shaping_telescopes_over_an_episode(actions, start, max_steps, ends_terminated, gamma):
    env = make_env(gamma=gamma, max_steps=max_steps)
    phis, infos, _, terminated, truncated = rollout(env, actions, start=start)
    assert terminated == ends_terminated and truncated != ends_terminated
    f = np.array([i["reward/shaping"] for i in infos])
    t = len(f)
    discounted = float(np.sum(gamma ** np.arange(t) * f))
    last = 0.0 if terminated else phis[-1]
    # sum_t gamma^t F_t = gamma^T Phi(s_T) - Phi(s_0), with Phi(s_T) = 0 at termination.
    assert discounted == pytest.approx(gamma**t * last - phis[0], abs=1e-6)
    if gamma == 1.0:
        expected = -phis[0] if terminated else phis[-1] - phis[0]
        assert float(f.sum()) == pytest.approx(expected, abs=1e-6)


def test_reset_recomputes_the_potential():
    potential = Progress()
    env = make_env(gamma=0.9, potential=potential)
    rollout(env, [1] * 10)  # ends terminated at N
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)  # no stale Phi from the ended episode
    calls = potential.calls
    _, info = env.reset(options={"start": 3})
    assert potential.calls == calls + 1
    assert info["potential"] == pytest.approx(0.6)
    _, _, _, _, info = env.step(0)
    assert info["reward/shaping"] == pytest.approx(0.9 * 0.4 - 0.6)


def test_reset_mid_episode_recomputes_the_potential():
    env = make_env(gamma=0.9)
    env.reset(options={"start": 1})
    env.step(1)  # the episode goes on at pos 2
    _, info = env.reset(options={"start": 4})
    assert info["potential"] == pytest.approx(0.8)
    _, _, _, _, info = env.step(0)
    assert info["reward/shaping"] == pytest.approx(0.9 * 0.6 - 0.8)


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match="reset"):
        make_env().step(1)


def nan_at_two(obs):
    return float("nan") if obs[0] == 2 else obs[0] / N


class NamedBad:
    name = "broken_prm"

    def __call__(self, obs):
        return np.inf if obs[0] == 2 else 0.0


@pytest.mark.parametrize(
    ("potential", "shown"), [(nan_at_two, "nan_at_two"), (NamedBad(), "broken_prm")]
)
def test_non_finite_potential_is_a_clear_error(potential, shown):
    env = make_env(potential=potential)
    env.reset(options={"start": 1})
    with pytest.raises(NonFinitePotentialError, match=shown):
        env.step(1)
    with pytest.raises(NonFinitePotentialError, match=shown):
        env.reset(options={"start": 2})


def test_potential_must_return_one_number():
    env = make_env(potential=lambda obs: np.zeros(2))
    with pytest.raises(TypeError, match="shape"):
        env.reset()


@pytest.mark.parametrize(
    "kwargs",
    [{"gamma": 0.0}, {"gamma": 1.5}, {"gamma": float("nan")}, {"scale": float("inf")}],
)
def test_wrapper_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="gamma" if "gamma" in kwargs else "scale"):
        make_env(**kwargs)


def test_wrapper_rejects_a_non_callable_potential():
    with pytest.raises(ValueError, match="callable"):
        PotentialShapingWrapper(Chain(), potential=0.5, gamma=0.9)


def test_stacked_shaping_wrappers_are_refused():
    env = PotentialShapingWrapper(make_env(), Progress(), gamma=0.9)
    env.reset()
    with pytest.raises(RuntimeError, match="stacked"):
        env.step(1)


@pytest.mark.parametrize(("actions", "max_steps"), [([1] * 10, 50), ([1, 0, 1, 1], 4)])
def test_batch_function_matches_wrapper(actions, max_steps):
    gamma, scale = 0.93, 0.7
    env = make_env(gamma=gamma, scale=scale, max_steps=max_steps)
    phis, infos, rewards, terminated, _ = rollout(env, actions)
    done = np.zeros(len(infos), dtype=bool)
    done[-1] = terminated
    logged = np.array([i["reward/shaping"] for i in infos])
    relabelled = scale * shaping_terms(phis[:-1], phis[1:], done, gamma)
    np.testing.assert_allclose(relabelled, logged, rtol=0, atol=1e-12)
    task = np.array([i["reward/task"] for i in infos])
    np.testing.assert_allclose(task + relabelled, rewards, atol=1e-12)


# --------------------------------------------------------------------------------------
# The batch function
# --------------------------------------------------------------------------------------


def test_shaping_terms_values_and_broadcasting():
    f = shaping_terms([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [False, True, False], 0.5)
    np.testing.assert_allclose(f, [0.0, -2.0, 0.0])
    assert f.dtype == np.float64 and f.shape == (3,)
    # Scalars broadcast; 0/1 floats from a replay buffer are accepted as flags.
    np.testing.assert_allclose(shaping_terms(1.0, [1.0, 3.0], np.array([1.0, 0.0]), 1.0), [-1, 2])
    assert shaping_terms(1.0, 2.0, False, 1.0).shape == (1,)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0], [0.0], [False], 0.0), "gamma"),
        (([0.0], [0.0], [False], 1.01), "gamma"),
        (([0.0], [0.0], [False], float("nan")), "gamma"),
        (([[0.0]], [0.0], [False], 0.9), "phi: expected a scalar or a 1-D"),
        (([0.0, 1.0, 2.0], [0.0] * 4, [False], 0.9), "broadcast"),
        (([0.0] * 3, [0.0, 1.0, np.nan], [False] * 3, 0.9), r"next_phi.*index 2"),
        (([np.inf, 0.0], [0.0, 0.0], False, 0.9), r"phi.*index 0"),
        (([0.0], [0.0], [0.5], 0.9), "terminated"),
        (([0.0], [0.0], ["yes"], 0.9), "terminated"),
        ((["a"], [0.0], [False], 0.9), "phi"),
    ],
)
def test_shaping_terms_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        shaping_terms(*args)


def test_nan_next_potential_is_refused_even_at_a_terminal_step():
    with pytest.raises(NonFinitePotentialError, match="next_phi"):
        shaping_terms([0.5], [np.nan], [True], 0.9)


@settings(max_examples=50, deadline=None)
@given(
    phis=st.lists(st.floats(-100, 100), min_size=2, max_size=30),
    gamma=st.floats(0.01, 1.0),
    terminated=st.booleans(),
)
def test_shaping_terms_telescope(phis, gamma, terminated):
    phi = np.array(phis)
    done = np.zeros(len(phi) - 1, dtype=bool)
    done[-1] = terminated
    f = shaping_terms(phi[:-1], phi[1:], done, gamma)
    t = len(f)
    last = 0.0 if terminated else phi[-1]
    total = float(np.sum(gamma ** np.arange(t) * f))
    assert math.isclose(total, gamma**t * last - phi[0], rel_tol=1e-9, abs_tol=1e-9)


# ---------------------------------------------------------------------- direct mode (issue 14)
def test_direct_mode_pays_the_potential_not_the_difference():
    env = PotentialShapingWrapper(
        TimeLimit(Chain(), max_episode_steps=50), Progress(), gamma=0.9, scale=2.0, mode="direct"
    )
    env.reset(options={"start": 1})
    _, reward, _, _, info = env.step(1)  # pos 1 -> 2: Phi(s) = 0.2, Phi(s') = 0.4
    assert info["reward/direct"] == pytest.approx(2.0 * 0.4)
    assert info["reward/shaping"] == 0.0
    assert reward == pytest.approx(-0.1 + 2.0 * 0.4)  # not -0.1 + 2 * (0.9 * 0.4 - 0.2)
    env.reset(options={"start": N - 1})
    _, reward, terminated, _, info = env.step(1)
    assert terminated  # no terminal zeroing in direct mode: nothing telescopes
    assert info["reward/direct"] == pytest.approx(2.0 * 1.0)


def test_difference_mode_logs_no_direct_term():
    env = make_env(gamma=0.9)
    env.reset()
    _, _, _, _, info = env.step(1)
    assert info["reward/direct"] == 0.0 and info["reward/shaping"] != 0.0


@pytest.mark.parametrize("mode", ["difference", "direct"])
def test_the_potential_return_ends_each_episode_in_either_mode(mode):
    env = PotentialShapingWrapper(
        TimeLimit(Chain(), max_episode_steps=3), Progress(), gamma=0.9, scale=5.0, mode=mode
    )
    phis, infos, _, _, truncated = rollout(env, [1, 1, 1])
    assert truncated
    assert "reward/potential_return" not in infos[0]
    # Phi(s') summed over the steps, whatever the mode and scale: 0.2 + 0.4 + 0.6.
    assert infos[-1]["reward/potential_return"] == pytest.approx(phis[1:].sum())
    assert infos[-1]["reward/potential_return"] == pytest.approx(1.2)
    _, infos, _, _, _ = rollout(env, [1, 1, 1])  # a new episode starts the sum afresh
    assert infos[-1]["reward/potential_return"] == pytest.approx(1.2)


def test_a_bad_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"mode must be one of \['difference', 'direct'\]"):
        make_env().__class__(Chain(), Progress(), gamma=0.9, mode="raw")


def test_an_info_potential_shapes_by_what_the_env_reports():
    import sim
    from robopref.rewards.shaping import InfoPotential

    env = PotentialShapingWrapper(sim.make("panda-push", cameras=()), InfoPotential(), 0.9)
    obs, info = env.reset(seed=3)
    before = info["progress"]
    assert info["potential"] == before
    expert = sim.expert("panda-push")
    shaped = []
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(expert(obs, info))
        assert info["reward/shaping"] == pytest.approx(0.9 * info["progress"] - before)
        shaped.append(info["reward/shaping"])
        before = info["progress"]
    assert max(shaped) > 0  # the expert makes progress, and is paid for it
    with pytest.raises(TypeError, match="read from the env's info"):
        InfoPotential()({"state": np.zeros(3)})


def test_an_info_potential_the_env_does_not_report_is_named():
    from robopref.rewards.shaping import InfoPotential

    env = PotentialShapingWrapper(Chain(), InfoPotential("progress"), 0.9)
    with pytest.raises(KeyError, match="the env reports no 'progress'"):
        env.reset(seed=0)
