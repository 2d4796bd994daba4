"""Query selectors: the segment pool, uniform candidate pairs, "oversample then keep the top n"
with a fake model whose scores we control, a real PreferenceRewardModel, and the whole loop
(select -> store -> scripted teacher -> train)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robopref.data import Episode
from robopref.preferences import (
    LabelStore,
    QuerySpec,
    SegmentPool,
    SegmentRef,
    answer_queries,
    draw_pairs,
    entropy_score,
    get_selector,
    make_teacher,
    register_selector,
    select_queries,
    selector_names,
)
from robopref.preferences import selectors as selectors_module

D, A, L = 3, 2, 5


def make_episode(i: int, t: int = 20, seed: int = 0) -> Episode:
    rng = np.random.default_rng(seed * 1000 + i)
    state = rng.normal(size=(t + 1, D))
    return Episode(
        state=state,
        action=rng.uniform(-1, 1, (t, A)),
        reward=state[:-1, 0],  # the true reward is the first state coordinate
        success=np.zeros(t, bool),
        timestamp=np.arange(t + 1) * 0.1,
        metadata=dict(task="t", source="random", backend="test", seed=i, robot="r", control_hz=10),
        episode_id=f"ep{i}",
    )


@pytest.fixture(scope="module")
def episodes():
    return [make_episode(i) for i in range(6)]


@pytest.fixture(scope="module")
def pool(episodes):
    return SegmentPool(episodes, L)


class FakeModel:
    """Scores a pair by a fixed function of its first observations; records every batch."""

    def __init__(self):
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    @staticmethod
    def key(obs_a, obs_b):
        # Distinct for distinct pairs; float64 and small, so P(A > B) never rounds to 0 or 1.
        return obs_a[:, 0, 0].astype(np.float64) * 0.7 + obs_b[:, 0, 1].astype(np.float64) * 0.1

    def disagreement(self, batch):
        self.seen.append((batch.obs_a[:, 0, :2], batch.obs_b[:, 0, :2]))
        return np.abs(self.key(batch.obs_a, batch.obs_b))

    def predict_preference(self, batch):
        self.seen.append((batch.obs_a[:, 0, :2], batch.obs_b[:, 0, :2]))
        return 1 / (1 + np.exp(-self.key(batch.obs_a, batch.obs_b)))


# ------------------------------------------------------------------ the pool


def test_pool_windows_match_episode_segments(episodes, pool):
    from robopref.preferences import batch_from_segments

    assert len(pool) == 6 * (20 - L + 1)
    assert pool.ref(0) == SegmentRef("ep0", 0, L)
    assert pool.ref(len(pool) - 1) == SegmentRef("ep5", 20 - L, L)
    idx_a, idx_b = np.array([0, 17, 40]), np.array([3, 90, 41])
    batch = pool.batch(idx_a, idx_b)
    by_id = {ep.episode_id: ep for ep in episodes}
    segs = [
        [by_id[r.episode_id].segment(r.start, r.length) for r in map(pool.ref, i)]
        for i in (idx_a, idx_b)
    ]
    expected = batch_from_segments(segs[0], segs[1], ["a"] * 3)
    for got, want in zip(batch[:4], expected[:4]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(batch.label, [0.5] * 3)


def test_pool_stride_and_segments_of_segments(episodes):
    strided = SegmentPool(episodes, L, stride=4)
    assert len(strided) == 6 * len(range(0, 20 - L + 1, 4))
    assert strided.ref(1) == SegmentRef("ep0", 4, L)
    # A pool over segments refers into the root episodes, as the store and teachers need.
    sub = SegmentPool([episodes[2].segment(7, 8), episodes[3].segment(1, 6)], L)
    assert [sub.ref(i) for i in range(len(sub))] == [
        SegmentRef("ep2", 7, L), SegmentRef("ep2", 8, L), SegmentRef("ep2", 9, L),
        SegmentRef("ep2", 10, L), SegmentRef("ep3", 1, L), SegmentRef("ep3", 2, L),
    ]  # fmt: skip


def test_pool_rejects_bad_input(episodes):
    with pytest.raises(ValueError, match="length"):
        SegmentPool(episodes, 0)
    with pytest.raises(ValueError, match="stride"):
        SegmentPool(episodes, L, stride=0)
    with pytest.raises(ValueError, match="at least 2 windows"):
        SegmentPool(episodes[:1], 20)
    odd = Episode(**{**episodes[0].__dict__, "state": np.zeros((21, D + 1)), "episode_id": "odd"})
    with pytest.raises(ValueError, match="sizes"):
        SegmentPool([episodes[0], odd], L)


# ------------------------------------------------------------------ candidate pairs


@pytest.mark.parametrize("pool_size, count", [(200, 50), (10, 40), (10, 45), (10, 1000), (2, 3)])
def test_draw_pairs_are_distinct_pairs_of_distinct_windows(pool_size, count):
    pairs = draw_pairs(pool_size, count, np.random.default_rng(0))
    total = pool_size * (pool_size - 1) // 2
    assert pairs.shape == (min(count, total), 2) and pairs.dtype == np.int64
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert ((pairs >= 0) & (pairs < pool_size)).all()
    assert len({(min(a, b), max(a, b)) for a, b in pairs.tolist()}) == len(pairs)


def test_draw_pairs_is_uniform_over_windows_and_sides():
    rng = np.random.default_rng(1)
    firsts = np.concatenate([draw_pairs(1000, 50, rng)[:, 0] for _ in range(400)])
    # Each of 10 blocks of 100 windows should get ~10% of the A sides.
    hits = np.bincount(firsts // 100, minlength=10)
    n = len(firsts)
    assert all(abs(h - n / 10) <= 4.5 * math.sqrt(n * 0.1 * 0.9) for h in hits)
    dense = draw_pairs(10, 45, rng)  # every pair: each side shown first about half the time
    assert 10 <= (dense[:, 0] < dense[:, 1]).sum() <= 35


# ------------------------------------------------------------------ selection


def test_registry():
    assert selector_names()[:3] == ("uniform", "disagreement", "entropy")
    with pytest.raises(ValueError, match=r"unknown selector 'greedy'.*'uniform'.*'entropy'"):
        get_selector("greedy")


def test_uniform_needs_no_model_and_scores_nothing(pool):
    specs = select_queries("uniform", pool, 12, np.random.default_rng(0))
    assert len(specs) == 12
    assert all(isinstance(s, QuerySpec) and s.selector == "uniform" for s in specs)
    assert all(s.score is None and s.k == 1 for s in specs)
    assert all(s.seg_a != s.seg_b and s.seg_a.length == L for s in specs)
    again = select_queries("uniform", pool, 12, np.random.default_rng(0))
    assert again == specs and select_queries("uniform", pool, 12, np.random.default_rng(1)) != specs


@pytest.mark.parametrize("name", ["disagreement", "entropy"])
@pytest.mark.parametrize("chunk", [1024, 7])
def test_scored_selectors_keep_exactly_the_top_n_candidates(pool, name, chunk):
    model, n, oversample = FakeModel(), 15, 8
    specs = select_queries(
        name, pool, n, np.random.default_rng(2), model=model, oversample=oversample, chunk=chunk
    )
    firsts_a = np.concatenate([a for a, _ in model.seen])
    firsts_b = np.concatenate([b for _, b in model.seen])
    assert len(firsts_a) == oversample * n  # every candidate was scored once
    key = FakeModel.key(firsts_a[:, None], firsts_b[:, None])
    if name == "disagreement":
        scores = np.abs(key)
    else:
        p = 1 / (1 + np.exp(-key))
        scores = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    got = np.array([s.score for s in specs])
    np.testing.assert_allclose(got, np.sort(scores)[::-1][:n], rtol=1e-9)  # n highest, best first
    assert all(s.selector == name for s in specs)
    # Each spec points at windows that really score that high.
    idx_a, idx_b = (np.array([_index(pool, s[i]) for s in specs]) for i in (0, 1))
    rescored = get_selector(name).score(FakeModel(), pool.batch(idx_a, idx_b))
    np.testing.assert_allclose(rescored, got, rtol=1e-9)


def _index(pool: SegmentPool, ref: SegmentRef) -> int:
    return next(i for i in range(len(pool)) if pool.ref(i) == ref)


def test_entropy_score_is_binary_entropy():
    class P:
        def predict_preference(self, batch):
            return np.array([0.0, 0.5, 1.0, 0.1])

    h01 = -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    np.testing.assert_allclose(entropy_score(P(), None), [0.0, math.log(2), 0.0, h01])


def test_selection_errors(pool):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="model=None"):
        select_queries("disagreement", pool, 3, rng)
    with pytest.raises(ValueError, match="n must be"):
        select_queries("uniform", pool, 0, rng)
    with pytest.raises(ValueError, match="oversample"):
        select_queries("entropy", pool, 3, rng, model=FakeModel(), oversample=0)
    with pytest.raises(ValueError, match="Generator"):
        select_queries("uniform", pool, 3, 42)

    class Broken:
        def __init__(self, out):
            self.out = out

        def disagreement(self, batch):
            return self.out(len(batch.obs_a))

        predict_preference = disagreement

    with pytest.raises(ValueError, match="shape"):
        select_queries("disagreement", pool, 3, rng, model=Broken(lambda m: np.zeros(m + 1)))
    with pytest.raises(ValueError, match="finite: False"):
        select_queries("disagreement", pool, 3, rng, model=Broken(lambda m: np.full(m, np.nan)))
    with pytest.raises(ValueError, match="outside"):
        select_queries("entropy", pool, 3, rng, model=Broken(lambda m: np.full(m, 1.5)))


def test_register_a_selector(monkeypatch, pool):
    monkeypatch.setattr(selectors_module, "_SELECTORS", dict(selectors_module._SELECTORS))

    def late_start(model, batch):  # prefers pairs whose A window starts late in the state walk
        return batch.obs_a[:, 0, 2]

    register_selector("late", late_start)
    specs = select_queries("late", pool, 4, np.random.default_rng(0), model=object(), k=3)
    assert [s.k for s in specs] == [3] * 4 and specs[0].score >= specs[-1].score
    with pytest.raises(ValueError, match="already exists"):
        register_selector("late", late_start)


# ------------------------------------------------------------------ with the real model


@pytest.fixture(scope="module")
def real_model(pool):
    from robopref.rewards import PreferenceRewardConfig, PreferenceRewardModel

    model = PreferenceRewardModel(
        D, A, PreferenceRewardConfig(ensemble_size=3, hidden=(16,), epochs=5, batch_size=32)
    )
    rng = np.random.default_rng(3)
    pairs = draw_pairs(len(pool), 60, rng)
    batch = pool.batch(pairs[:, 0], pairs[:, 1])
    labels = make_teacher("oracle").label(batch.obs_a[..., 0], batch.obs_b[..., 0], rng)
    targets = np.array([{"a": 1.0, "b": 0.0}[x] for x in labels], np.float32)
    model.train(batch._replace(label=targets), rng=rng)
    return model


class Recording:
    """Passes calls through to a real model and keeps what it was asked and answered."""

    def __init__(self, model):
        self.model, self.scores = model, []

    def disagreement(self, batch):
        self.scores.append(self.model.disagreement(batch))
        return self.scores[-1]

    def predict_preference(self, batch):
        out = self.model.predict_preference(batch)
        self.scores.append(-(out * np.log(out) + (1 - out) * np.log(1 - out)))
        return out


@pytest.mark.parametrize("name", ["disagreement", "entropy"])
def test_real_preference_reward_model(pool, real_model, name):
    rec = Recording(real_model)
    specs = select_queries(name, pool, 10, np.random.default_rng(4), model=rec, oversample=10)
    candidates = np.concatenate(rec.scores)
    assert len(candidates) == 100 and len(np.unique(candidates)) > 50
    np.testing.assert_allclose([s.score for s in specs], np.sort(candidates)[::-1][:10], rtol=1e-9)
    idx = [np.array([_index(pool, s[i]) for s in specs]) for i in (0, 1)]
    again = get_selector(name).score(real_model, pool.batch(*idx))
    np.testing.assert_allclose(again, [s.score for s in specs], rtol=1e-6)
    if name == "entropy":
        assert all(0 <= s.score <= math.log(2) for s in specs)


def test_select_label_train_loop(tmp_path, episodes, pool, real_model):
    """Selector -> label store -> scripted teacher -> training batch, through the public API."""
    from robopref.preferences import batch_from_segments

    rng = np.random.default_rng(5)
    specs = select_queries("disagreement", pool, 20, rng, model=real_model)
    by_id = {ep.episode_id: ep for ep in episodes}
    with LabelStore(tmp_path / "labels.db") as store:
        ids = store.add_queries(specs)
        assert store.get_query(ids[0]).score == specs[0].score
        answer_queries(store, by_id, make_teacher("mistake"), rng)
        rows = store.labels()
    assert len(rows) == 20 and {r.source for r in rows} == {"teacher:mistake"}
    segs = [[by_id[s.episode_id].segment(s.start, s.length) for s in side] for side in
            ([r.seg_a for r in rows], [r.seg_b for r in rows])]  # fmt: skip
    batch = batch_from_segments(segs[0], segs[1], [r.label for r in rows])
    metrics = real_model.train(batch, epochs=1, rng=rng)
    assert metrics["pref_model/pairs"] == 20
