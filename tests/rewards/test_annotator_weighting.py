"""Reliability-aware reward learning (issue 18): calibrated label noise changes the fit."""

from __future__ import annotations

import numpy as np

from robopref.preferences import GoldAnswer, Label, PreferenceBatch, ScriptedTeacher, SegmentRef
from robopref.preferences.calibration import calibrate, label_noise, label_temperature
from robopref.rewards.preference import PreferenceRewardConfig, PreferenceRewardModel

L, D = 5, 3


def _segments(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    obs = rng.normal(size=(n, L, D)).astype(np.float32)
    return obs, obs[..., 0].sum(-1)  # true return: the first feature, summed


def _fit(batch: PreferenceBatch, test: tuple) -> float:
    cfg = PreferenceRewardConfig(ensemble_size=3, hidden=(16,), input="state", epochs=30, seed=0)
    model = PreferenceRewardModel(D, None, cfg)
    model.train(batch, rng=0)
    (oa, ra), (ob, rb) = test
    p = model.predict_preference(PreferenceBatch(oa, None, ob, None, np.full(len(oa), 0.5)))
    return float(np.mean((p > 0.5) == (ra > rb)))


def test_calibrated_noise_discounts_a_bad_annotator():
    rng = np.random.default_rng(0)
    (oa, ra), (ob, rb) = _segments(rng, 200), _segments(rng, 200)
    teachers = {
        "careful": ScriptedTeacher(name="careful"),
        "careless": ScriptedTeacher(eps_mistake=0.8, name="careless"),
    }
    # The careful person answers 40 queries, the careless one all 200: most of the data
    # comes from the careless one, as in a crowd with one prolific bad annotator.
    labels = []
    for t, (name, teacher) in enumerate(teachers.items()):
        n = 40 if name == "careful" else 200
        answers = teacher.label(ra[:n, None], rb[:n, None], np.random.default_rng(t))
        labels += [
            Label(len(labels) + 1, q, a, name, 0.0, None, "t", SegmentRef("e", q, L),
                  SegmentRef("f", q, L))
            for q, a in enumerate(answers)
        ]  # fmt: skip
    q = np.asarray([lab.query_id for lab in labels])
    y = np.asarray([1.0 if lab.label == "a" else 0.0 for lab in labels], np.float32)
    batch = PreferenceBatch(oa[q], None, ob[q], None, y)
    # Two people disagreeing need an anchor to say who is right: ten gold answers.
    gold = [
        GoldAnswer(i, "a" if ra[i] > rb[i] else "b", "progress", None, 0.0,
                   SegmentRef("e", i, L), SegmentRef("f", i, L))
        for i in range(10)
    ]  # fmt: skip
    cal = calibrate(labels, gold)
    assert cal.annotators["careless"].eps_mistake > 0.5  # worse than a coin
    noise, weight = label_noise(cal, labels)
    test = (_segments(rng, 400), _segments(rng, 400))
    plain = _fit(batch, test)
    calibrated = _fit(batch._replace(noise=noise, weight=weight), test)
    # The expected direction: discounting the careless labels brings the fit closer to the
    # true reward on held-out pairs.
    assert calibrated > plain + 0.2 and calibrated > 0.8, (plain, calibrated)


def test_beta_temperature_discounts_a_low_beta_annotator_near_ties():
    rng = np.random.default_rng(0)
    (oa, ra), (ob, rb) = _segments(rng, 2000), _segments(rng, 2000)
    m = float(np.median(np.abs(ra - rb)))
    # A careful person answers 40 pairs; a low-beta one (B-Pref's stochastic teacher, beta * m
    # = 1) answers 300 near-ties, where their answers are close to a coin.
    near = np.flatnonzero(np.abs(ra - rb) < 0.5 * m)[:300]
    crowd = (
        ("careful", ScriptedTeacher(name="careful"), np.arange(40)),
        ("low-beta", ScriptedTeacher(beta=1.0 / m, name="low-beta"), near),
    )
    labels = []
    for t, (name, teacher, qs) in enumerate(crowd):
        answers = teacher.label(ra[qs, None], rb[qs, None], np.random.default_rng([0, t]))
        labels += [
            Label(len(labels) + 1, int(q), a, name, 0.0, None, "t", SegmentRef("e", int(q), L),
                  SegmentRef("f", int(q), L))
            for q, a in zip(qs, answers)
        ]  # fmt: skip
    q = np.asarray([lab.query_id for lab in labels])
    y = np.asarray([1.0 if lab.label == "a" else 0.0 for lab in labels], np.float32)
    batch = PreferenceBatch(oa[q], None, ob[q], None, y)
    cal = calibrate(labels, (), dict(enumerate((ra - rb).tolist())))  # sim: gaps known
    noise, weight = label_noise(cal, labels)
    temperature = label_temperature(cal, labels)
    low = np.asarray([lab.annotator == "low-beta" for lab in labels])
    # Read as stochastic without mistakes: the mistake rate alone (calibrated) would change
    # nothing; the temperature is what discounts them.
    assert cal.annotators["low-beta"].eps_mistake < 0.05 and noise.max() < 1e-3
    assert temperature[~low].min() == 1.0 and temperature[low].max() < 0.5
    test = (_segments(rng, 1000), _segments(rng, 1000))
    plain = _fit(batch, test)
    with_beta = _fit(batch._replace(noise=noise, weight=weight, temperature=temperature), test)
    assert with_beta > plain + 0.01, (plain, with_beta)  # 0.861 -> 0.884


def test_bad_noise_is_refused_naming_the_field():
    import pytest

    cfg = PreferenceRewardConfig(ensemble_size=1, hidden=(4,), input="state", epochs=1)
    model = PreferenceRewardModel(D, None, cfg)
    obs = np.zeros((2, L, D), np.float32)
    batch = PreferenceBatch(obs, None, obs, None, np.ones(2, np.float32), noise=np.ones(2))
    with pytest.raises(ValueError, match="batch.noise"):
        model.train(batch)
    batch = batch._replace(noise=None, temperature=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=r"batch.temperature: expected 2 values in \(0, 1\]"):
        model.train(batch)
