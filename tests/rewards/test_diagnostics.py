"""EPIC distance (Gleave et al. 2021): invariances, bounds, exactness on a tabular reward,
determinism and errors."""

from __future__ import annotations

import numpy as np
import pytest

from robopref.rewards import canonicalize, epic_distance, sample_marginals

GAMMA = 0.9


@pytest.fixture(scope="module")
def data():
    """Continuous transitions (3-D states, 2-D actions) and EPIC samples from their marginals."""
    rng = np.random.default_rng(0)
    n = 256
    s = rng.normal(size=(n, 3))
    a = rng.normal(size=(n, 2))
    s2 = s + 0.5 * a @ rng.normal(size=(2, 3)) + 0.1 * rng.normal(size=(n, 3))
    sample_s, sample_a = sample_marginals(s, a, s2, n_states=32, n_actions=16, rng=rng)
    return s, a, s2, sample_s, sample_a


_W = np.random.default_rng(1).normal(size=(4, 3))


def reward(s, a, s2):
    return np.tanh(s2 @ _W[0]) + 0.5 * (a @ _W[1, :2]) ** 2 + s[:, 0] * s2[:, 1]


def potential(x):
    return np.sin(x @ _W[2]) + 0.3 * np.sum(x**2, axis=1)


def shaped(s, a, s2):
    return reward(s, a, s2) + GAMMA * potential(s2) - potential(s)


def unrelated(s, a, s2):
    return np.cos(a @ _W[3, :2]) + s2[:, 2]


def distance(r1, r2, data, gamma=GAMMA):
    return epic_distance(r1, r2, *data[:3], gamma, *data[3:])


@pytest.mark.parametrize(
    "equivalent",
    [
        lambda s, a, s2: 3.7 * reward(s, a, s2),
        lambda s, a, s2: 0.2 * reward(s, a, s2) - 5.0,
        shaped,
        lambda s, a, s2: 2.0 * shaped(s, a, s2) + 1.0,
    ],
    ids=["scaled", "scaled_offset", "shaped", "shaped_scaled"],
)
def test_zero_for_positive_scaling_and_shaping(data, equivalent):
    # Shaping cancels exactly for the given samples (the same S serve as S and S'), so the
    # distance is 0 up to rounding, well within the Monte Carlo tolerance of the brief.
    assert distance(reward, equivalent, data) < 1e-6


def test_one_for_negation(data):
    assert distance(reward, lambda *x: -reward(*x), data) == pytest.approx(1.0, abs=1e-6)
    assert distance(shaped, lambda *x: -0.5 * reward(*x), data) == pytest.approx(1.0, abs=1e-6)


def test_intermediate_for_unrelated_rewards(data):
    d = distance(reward, unrelated, data)
    # Uncorrelated canonical rewards sit near sqrt(1/2).
    assert 0.5 < d < 0.9


def test_symmetric_and_bounded_and_triangle(data):
    rng = np.random.default_rng(7)
    ws = rng.normal(size=(4, 3))

    def make(w):
        return lambda s, a, s2: np.tanh(s @ w) * s2[:, 0] + a[:, 0] * w[1]

    rewards = [make(w) for w in ws] + [reward, unrelated]
    d = np.array([[distance(r1, r2, data) for r2 in rewards] for r1 in rewards])
    assert ((d >= 0.0) & (d <= 1.0)).all()
    np.testing.assert_allclose(d, d.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)
    # sqrt((1 - rho) / 2) is a pseudometric: the triangle inequality holds.
    assert (d[:, None, :] <= d[:, :, None] + d.T[None, :, :] + 1e-9).all()


def test_canonicalize_matches_exact_tabular_canonicalization():
    """With every state and action as the samples, the Monte Carlo means are exact."""
    rng = np.random.default_rng(3)
    # Sizes with a common factor, so a mis-built A x S' mesh would miss some pairs.
    n_s, n_a, gamma = 6, 4, 0.8
    table = rng.normal(size=(n_s, n_a, n_s))

    def tabular(s, a, s2):
        return table[s, a, s2]

    s, a, s2 = (x.ravel() for x in np.indices(table.shape))
    got = canonicalize(tabular, s, a, s2, gamma, np.arange(n_s), np.arange(n_a))
    # Definition 4.1 with uniform S, S' and A, written out over the table.
    m = table.mean(axis=(1, 2))
    expected = table + gamma * m[None, None, :] - m[:, None, None] - gamma * m.mean()
    np.testing.assert_allclose(got, expected.ravel(), atol=1e-12)

    phi = 10.0 * rng.normal(size=n_s)
    shaped_table = table + gamma * phi[None, None, :] - phi[:, None, None]
    np.testing.assert_allclose(
        canonicalize(lambda s, a, s2: shaped_table[s, a, s2], s, a, s2, gamma,
                     np.arange(n_s), np.arange(n_a)),
        got,
        atol=1e-10,
    )  # fmt: skip


def test_chunking_does_not_change_the_result(data):
    s, a, s2, ss, sa = (x[:8] for x in data)
    whole = canonicalize(reward, s, a, s2, GAMMA, ss[:4], sa[:3])
    for chunk_rows in (1, 5, 13):
        np.testing.assert_allclose(
            canonicalize(reward, s, a, s2, GAMMA, ss[:4], sa[:3], chunk_rows=chunk_rows),
            whole,
            atol=1e-12,
        )


def test_deterministic_given_a_seed(data):
    s, a, s2 = data[:3]
    # The legacy global generator must be left alone by library code (STYLE.md, practice 4).
    global_state = np.random.get_state()[1].copy()  # noqa: NPY002
    draws = [sample_marginals(s, a, s2, 32, 16, rng=seed) for seed in (5, 5, 6)]
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    assert not np.array_equal(draws[0][0], draws[2][0])
    gen = sample_marginals(s, a, s2, 32, 16, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(gen[0], draws[0][0])
    d = [epic_distance(reward, unrelated, s, a, s2, GAMMA, *draw) for draw in draws]
    assert d[0] == d[1]
    assert abs(d[0] - d[2]) < 0.1  # a different sample moves the estimate only a little
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)  # noqa: NPY002


def test_sample_marginals_draws_from_the_batch(data):
    s, a, s2 = data[:3]
    ss, sa = sample_marginals(s, a, s2, 600, 10, rng=0)  # more than the pool: replacement
    assert ss.shape == (600, 3) and sa.shape == (10, 2)
    pool = {tuple(x) for x in np.concatenate([s, s2])}
    assert all(tuple(x) in pool for x in ss)
    assert all(tuple(x) in {tuple(y) for y in a} for x in sa)
    with pytest.raises(TypeError, match="rng"):
        sample_marginals(s, a, s2, 4, 4, rng=None)
    with pytest.raises(ValueError, match="n_states"):
        sample_marginals(s, a, s2, 0, 4, rng=0)


def test_constant_reward_is_a_clear_error(data):
    with pytest.raises(ValueError, match="constant"):
        distance(reward, lambda s, a, s2: np.full(len(s), 2.5), data)


def test_pure_shaping_reward_is_a_clear_error(data):
    # Canonically 0: equivalent to a constant for every policy, so no correlation exists.
    with pytest.raises(ValueError, match=r"reward_fn_1.*constant"):
        distance(lambda s, a, s2: GAMMA * potential(s2) - potential(s), reward, data)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s, a, s2, ss, sa: (s, a[:-1], s2, ss, sa), "same number of rows"),
        (lambda s, a, s2, ss, sa: (s, a, s2[:, :2], ss, sa), "next_states"),
        (lambda s, a, s2, ss, sa: (s, a, s2, ss[:, :2], sa), "sample_states"),
        (lambda s, a, s2, ss, sa: (s, a, s2, ss, sa[:, :1]), "sample_actions"),
        (lambda s, a, s2, ss, sa: (s[:1], a[:1], s2[:1], ss, sa), "at least 2 rows"),
        (lambda s, a, s2, ss, sa: (s, a, s2, ss[:0], sa), "sample_states"),
    ],
)
def test_shape_mismatch_is_a_clear_error(data, mutate, match):
    s, a, s2, ss, sa = mutate(*data)
    with pytest.raises(ValueError, match=match):
        epic_distance(reward, unrelated, s, a, s2, GAMMA, ss, sa)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (lambda s, a, s2: reward(s, a, s2)[:, None], r"shape \(\d+, 1\)"),
        (lambda s, a, s2: np.where(s[:, 0] > 1.0, np.nan, 0.0), "non-finite"),
    ],
)
def test_bad_reward_output_is_a_clear_error(data, bad, match):
    with pytest.raises(ValueError, match=match):
        distance(reward, bad, data)


@pytest.mark.parametrize("gamma", [0.0, -0.5, 1.5, float("nan")])
def test_bad_gamma(data, gamma):
    with pytest.raises(ValueError, match="gamma"):
        distance(reward, unrelated, data, gamma=gamma)
