"""Scripted teachers: each B-Pref noise model at the rate its parameter says, the threshold
rules as B-Pref's get_label applies them, the registry, and labelling a store's queries."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from robopref.data import Episode, EpisodeStore
from robopref.preferences import (
    LabelStore,
    ScriptedTeacher,
    answer_queries,
    make_teacher,
    register_teacher,
    segment_margin,
    segment_rewards,
    teacher_names,
)
from robopref.preferences import teachers as teachers_module

H = 10


def binomial_ok(hits: int, n: int, p: float, z: float = 4.5) -> bool:
    """``hits`` of ``n`` is within ``z`` standard deviations of a Binomial(n, p) mean."""
    return abs(hits - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1e-9


def pairs_with_gap(rng: np.random.Generator, n: int, gap: np.ndarray | float):
    """Segments whose returns differ by ``gap`` (A minus B), spread over random steps."""
    rb = rng.uniform(0, 1, (n, H))
    ra = rb.copy()
    ra[np.arange(n), rng.integers(0, H, n)] += gap
    return ra, rb


# ------------------------------------------------------------------ registry and parameters


def test_presets_are_b_prefs_teachers():
    assert teacher_names() == ("oracle", "stochastic", "mistake", "myopic", "skip", "equal")
    expected = {  # (beta, gamma, eps_mistake, eps_skip, eps_equal), BPref README
        "oracle": (math.inf, 1.0, 0.0, 0.0, 0.0),
        "stochastic": (1.0, 1.0, 0.0, 0.0, 0.0),
        "mistake": (math.inf, 1.0, 0.1, 0.0, 0.0),
        "myopic": (math.inf, 0.9, 0.0, 0.0, 0.0),
        "skip": (math.inf, 1.0, 0.0, 0.1, 0.0),
        "equal": (math.inf, 1.0, 0.0, 0.0, 0.1),
    }
    for name, params in expected.items():
        t = make_teacher(name)
        assert (t.beta, t.gamma, t.eps_mistake, t.eps_skip, t.eps_equal) == params
        assert t.name == name and t.margin is None
    assert make_teacher("mistake", eps_mistake=0.3, margin=2.0).eps_mistake == 0.3


def test_unknown_teacher_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown teacher 'sleepy'.*'oracle'.*'equal'"):
        make_teacher("sleepy")


def test_register_teacher(monkeypatch):
    monkeypatch.setattr(teachers_module, "_PRESETS", dict(teachers_module._PRESETS))
    register_teacher("tired", beta=2.0, eps_mistake=0.2)
    t = make_teacher("tired")
    assert (t.name, t.beta, t.eps_mistake) == ("tired", 2.0, 0.2)
    with pytest.raises(ValueError, match="already exists"):
        register_teacher("tired", beta=1.0)
    with pytest.raises(ValueError, match="gamma"):
        register_teacher("bad", gamma=2.0)
    assert "bad" not in teacher_names()


@pytest.mark.parametrize(
    "params",
    [
        dict(beta=-1.0),
        dict(beta=float("nan")),
        dict(gamma=0.0),
        dict(gamma=1.1),
        dict(eps_mistake=1.5),
        dict(eps_skip=-0.1),
        dict(eps_equal=float("inf")),
        dict(margin=float("nan")),
        dict(beta=True),
        dict(name=""),
    ],
)
def test_bad_parameters_are_refused(params):
    with pytest.raises(ValueError):
        ScriptedTeacher(**params)


@pytest.mark.parametrize(
    "ra, rb",
    [
        (np.zeros(H), np.zeros(H)),  # 1-D
        (np.zeros((2, H)), np.zeros((2, H + 1))),  # lengths differ
        (np.full((2, H), np.nan), np.zeros((2, H))),  # unknown reward
        (np.zeros((2, 0)), np.zeros((2, 0))),  # empty segments
        (np.array([["x"] * H]), np.zeros((1, H))),
    ],
)
def test_bad_rewards_are_refused(ra, rb):
    with pytest.raises(ValueError):
        make_teacher("oracle").label(ra, rb, np.random.default_rng(0))


def test_rng_must_be_a_generator():
    with pytest.raises(ValueError, match="Generator"):
        make_teacher("oracle").label(np.ones((1, H)), np.zeros((1, H)), 0)


def test_same_generator_state_gives_the_same_labels():
    ra, rb = pairs_with_gap(np.random.default_rng(1), 500, np.linspace(-2, 2, 500))
    t = make_teacher("stochastic", eps_mistake=0.1)
    first = t.label(ra, rb, np.random.default_rng(7))
    assert first == t.label(ra, rb, np.random.default_rng(7))
    assert first != t.label(ra, rb, np.random.default_rng(8))
    assert set(first) == {"a", "b"}


# ------------------------------------------------------------------ each noise model


def test_oracle_prefers_the_larger_return_and_flips_a_coin_on_ties():
    rng = np.random.default_rng(0)
    gap = rng.choice([-1.0, 1.0], 2000) * rng.uniform(1e-3, 1.0, 2000)
    ra, rb = pairs_with_gap(rng, 2000, gap)
    labels = np.array(make_teacher("oracle").label(ra, rb, rng))
    assert (labels == np.where(ra.sum(1) > rb.sum(1), "a", "b")).all()
    tie = np.tile(rng.uniform(0, 1, (1, H)), (4000, 1))
    tie_labels = make_teacher("oracle").label(tie, tie.copy(), rng)
    assert binomial_ok(tie_labels.count("a"), 4000, 0.5)


@pytest.mark.parametrize("eps", [0.1, 0.25])
def test_mistake_flip_rate_matches_eps(eps):
    rng = np.random.default_rng(2)
    n = 20_000
    ra, rb = pairs_with_gap(rng, n, rng.choice([-1.0, 1.0], n))
    oracle = np.array(make_teacher("oracle").label(ra, rb, rng))
    noisy = np.array(make_teacher("mistake", eps_mistake=eps).label(ra, rb, rng))
    assert binomial_ok(int((noisy != oracle).sum()), n, eps)


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_stochastic_p_a_matches_bradley_terry_across_bins(beta):
    rng = np.random.default_rng(3)
    n = 60_000
    gap = rng.uniform(-3 / beta, 3 / beta, n)
    ra, rb = pairs_with_gap(rng, n, gap)
    labels = np.array(make_teacher("stochastic", beta=beta).label(ra, rb, rng))
    diff = ra.sum(1) - rb.sum(1)
    edges = np.linspace(diff.min(), diff.max(), 13)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (diff >= lo) & (diff < hi)
        expected = 1 / (1 + np.exp(-beta * diff[inside]))  # mean of Bernoulli(p_i)
        hits, count = int((labels[inside] == "a").sum()), int(inside.sum())
        sd = math.sqrt((expected * (1 - expected)).sum())
        assert abs(hits - expected.sum()) <= 4.5 * sd, (lo, hi, hits / count)


def test_myopic_weighs_late_steps_more():
    t = make_teacher("myopic")  # gamma 0.9
    ra = np.zeros((1, H))
    ra[0, 0] = 1.0  # early reward
    rb = np.zeros((1, H))
    rb[0, -1] = 0.5  # smaller, late reward
    rng = np.random.default_rng(0)
    assert make_teacher("oracle").label(ra, rb, rng) == ["a"]
    assert t.label(ra, rb, rng) == ["b"]  # 0.9**9 * 1 = 0.39 < 0.5
    # The weights are gamma ** (H - 1 - t), as B-Pref's repeated in-place multiplication gives.
    r = np.random.default_rng(4).normal(size=(50, 2, H))
    soft = ScriptedTeacher(beta=1.0, gamma=0.9)
    weights = 0.9 ** np.arange(H - 1, -1, -1)
    expected = 1 / (1 + np.exp(-(r[:, 0] - r[:, 1]) @ weights))
    np.testing.assert_allclose(soft.preference_probability(r[:, 0], r[:, 1]), expected)


def test_skip_threshold_is_relative_to_the_margin():
    rng = np.random.default_rng(5)
    episode_returns = rng.uniform(50, 150, 10)
    margin = segment_margin(episode_returns, segment_length=H, episode_length=100)
    assert margin == pytest.approx(episode_returns.mean() * H / 100)
    t = make_teacher("skip").with_margin(margin)
    thres = 0.1 * margin
    assert t.thresholds == (pytest.approx(thres), 0.0)
    n = 5000
    # Per-segment levels spread around the threshold, with per-step noise.
    ra, rb = (rng.uniform(0, 2 * thres / H, (n, 1)) * rng.uniform(0.5, 1.5, (n, H)) for _ in "ab")
    labels = np.array(t.label(ra, rb, rng))
    # B-Pref keeps a pair only if max(R_A, R_B) > threshold; the rest are skipped.
    skipped = np.maximum(ra.sum(1), rb.sum(1)) <= thres
    assert 0.05 < skipped.mean() < 0.95
    assert ((labels == "skip") == skipped).all()
    kept = ~skipped
    assert (labels[kept] == np.where(ra.sum(1) > rb.sum(1), "a", "b")[kept]).all()
    # Exactly at the threshold is skipped; just above is answered.
    at = np.zeros((1, H))
    at[0, -1] = t.thresholds[0]
    assert t.label(at, at * 0.5, rng) == ["skip"]
    assert t.label(at * 1.001, at * 0.5, rng) == ["a"]


def test_equal_threshold_and_it_is_never_flipped():
    rng = np.random.default_rng(6)
    margin = 4.0
    thres = 0.1 * margin
    n = 5000
    ra, rb = pairs_with_gap(rng, n, rng.uniform(-3 * thres, 3 * thres, n))
    t = make_teacher("equal", margin=margin)
    labels = np.array(t.label(ra, rb, rng))
    close = np.abs(ra.sum(1) - rb.sum(1)) < thres
    assert 0.1 < close.mean() < 0.9
    assert ((labels == "equal") == close).all()
    # B-Pref marks "equal" after the mistake flip: an always-wrong teacher still says equal.
    contrary = np.array(make_teacher("equal", margin=margin, eps_mistake=1.0).label(ra, rb, rng))
    assert ((contrary == "equal") == close).all()
    assert (contrary[~close] != labels[~close]).all()
    # B-Pref's test is strict: a gap of exactly the threshold is not "equal".
    edge = np.zeros((1, H))
    edge[0, 0] = t.thresholds[1]
    assert t.label(edge, np.zeros((1, H)), rng) == ["a"]
    assert t.label(edge * 0.999, np.zeros((1, H)), rng) == ["equal"]


def test_skip_wins_over_equal_and_margin_rules():
    t = ScriptedTeacher(eps_skip=0.5, eps_equal=0.5, margin=2.0)  # both thresholds 1.0
    low = np.full((1, H), 0.05)  # R = 0.5 for both: below skip, and equal
    assert t.label(low, low, np.random.default_rng(0)) == ["skip"]
    with pytest.raises(ValueError, match="needs a margin"):
        make_teacher("skip").label(low, low, np.random.default_rng(0))
    # A margin <= 0 (negative-reward task) switches both rules off, as in B-Pref.
    off = make_teacher("skip", eps_equal=0.1, margin=-5.0)
    assert off.label(-low, -low * 2, np.random.default_rng(0)) == ["a"]


def test_segment_margin_rejects_bad_input():
    with pytest.raises(ValueError):
        segment_margin([], 10, 100)
    with pytest.raises(ValueError):
        segment_margin([1.0, float("nan")], 10, 100)
    with pytest.raises(ValueError):
        segment_margin([1.0], 200, 100)


# ------------------------------------------------------------------ episodes and the store


def make_episode(episode_id: str, rewards: np.ndarray, progress: bool = True) -> Episode:
    t = len(rewards)
    return Episode(
        state=np.zeros((t + 1, 2)),
        action=np.zeros((t, 1)),
        reward=rewards,
        success=np.zeros(t, bool),
        timestamp=np.arange(t + 1) * 0.1,
        metadata=dict(task="t", source="random", backend="test", seed=0, robot="r", control_hz=10),
        progress=np.clip(np.cumsum(np.r_[0, rewards]) / max(rewards.sum(), 1), 0, 1)
        if progress
        else None,
        episode_id=episode_id,
    )


def test_segment_rewards_by_signal():
    ep = make_episode("e1", np.arange(20, dtype=float) / 20)
    np.testing.assert_allclose(segment_rewards(ep, 5, 4), ep.reward[5:9])
    prog = segment_rewards(ep, 5, 4, signal="progress")
    np.testing.assert_allclose(prog, np.diff(ep.progress[5:10]), rtol=1e-6)
    level = segment_rewards(ep, 5, 4, signal="progress-level")
    np.testing.assert_allclose(level, ep.progress[6:10], rtol=1e-6)
    # Holding still at a level: no gain, but the level still counts (and more, higher up).
    held = dataclasses.replace(make_episode("e3", np.zeros(20)), progress=np.full(21, 0.9))
    assert segment_rewards(held, 5, 4, signal="progress").sum() == 0.0
    assert segment_rewards(held, 5, 4, signal="progress-level").sum() == pytest.approx(3.6)
    with pytest.raises(ValueError, match="unknown signal"):
        segment_rewards(ep, 0, 4, signal="vibes")
    with pytest.raises(ValueError, match="out of range"):
        segment_rewards(ep, 18, 4)
    real = make_episode("e2", np.full(20, np.nan), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        segment_rewards(real, 0, 4)
    with pytest.raises(ValueError, match="no progress"):
        segment_rewards(real, 0, 4, signal="progress")
    with pytest.raises(ValueError, match="no progress"):
        segment_rewards(real, 0, 4, signal="progress-level")


def test_answer_queries_labels_every_open_query(tmp_path):
    rng = np.random.default_rng(9)
    episodes = {f"e{i}": make_episode(f"e{i}", rng.uniform(0, 1, 30)) for i in range(4)}
    specs = []
    for _ in range(40):
        a, b = rng.choice(4, 2, replace=False)
        specs.append(((f"e{a}", int(rng.integers(0, 20)), H), (f"e{b}", int(rng.integers(20)), H)))
    with LabelStore(tmp_path / "labels.db") as store:
        store.add_queries([(a, b, "uniform") for a, b in specs])
        rows = answer_queries(store, episodes, make_teacher("oracle"), rng)
        assert len(rows) == 40 and store.counts().queued == 0
        for row in rows:
            ra = episodes[row.seg_a.episode_id].reward[row.seg_a.start :][:H].sum()
            rb = episodes[row.seg_b.episode_id].reward[row.seg_b.start :][:H].sum()
            assert row.label == ("a" if ra > rb else "b")
            assert (row.annotator, row.source) == ("teacher:oracle", "teacher:oracle")
        assert answer_queries(store, episodes, make_teacher("oracle"), rng) == []


def test_answer_queries_from_an_episode_store_with_skips_and_a_limit(tmp_path):
    ep_store = EpisodeStore(tmp_path / "episodes")
    ep_store.save(make_episode("low", np.full(30, 0.01)))
    ep_store.save(make_episode("high", np.full(30, 1.0)))
    with LabelStore(tmp_path / "labels.db") as store:
        store.add_queries(
            [(("low", 0, H), ("low", 5, H), "uniform"), (("high", 0, H), ("low", 0, H), "uniform")]
        )
        teacher = make_teacher("skip", margin=segment_margin([30.0], H, 30))  # threshold 1.0
        assert len(answer_queries(store, ep_store, teacher, np.random.default_rng(0), limit=1)) == 1
        rows = answer_queries(store, ep_store, teacher, np.random.default_rng(0), signal="reward")
        assert [r.label for r in store.labels()] == ["skip", "a"] and len(rows) == 1
        # The skipped query stays open for others, but this teacher is not asked again.
        assert store.counts().queued == 1
        assert store.next_query("teacher:skip") is None
        assert store.next_query("alice").seg_a.episode_id == "low"
