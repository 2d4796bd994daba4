"""Reliability-aware reward learning (issue 18): calibrated label noise changes the fit."""

from __future__ import annotations

import numpy as np

from robopref.preferences import GoldAnswer, Label, PreferenceBatch, ScriptedTeacher, SegmentRef
from robopref.preferences.calibration import calibrate, label_noise
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


def test_bad_noise_is_refused_naming_the_field():
    import pytest

    cfg = PreferenceRewardConfig(ensemble_size=1, hidden=(4,), input="state", epochs=1)
    model = PreferenceRewardModel(D, None, cfg)
    obs = np.zeros((2, L, D), np.float32)
    batch = PreferenceBatch(obs, None, obs, None, np.ones(2, np.float32), noise=np.ones(2))
    with pytest.raises(ValueError, match="batch.noise"):
        model.train(batch)
