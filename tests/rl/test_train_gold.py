"""Issue 18 end to end: a tiny PEBBLE run mixes gold pairs in and refits its annotator model."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from robopref.preferences import LabelStore
from robopref.rl.train import train
from robopref.runs import RunPaths

pytestmark = pytest.mark.slow

GOLD_RATE = 0.3
LABELS = 60
EPS = 0.2


def test_gold_is_mixed_in_unmarked_and_the_calibrated_refit_weighs_the_teacher(tiny):
    summary = train(
        tiny(
            labels=LABELS,
            **{
                "teacher.name": "mistake",
                "teacher.eps_mistake": EPS,
                "pebble.labels_per_round": 20,
                "pebble.gold_rate": GOLD_RATE,
                "pebble.reward_annotator_model": "calibrated",
            },
        )
    )
    run = RunPaths.of(summary["run"])
    with LabelStore(run.labels) as store:
        queries = [store.get_query(i) for i in range(1, store.counts().queries + 1)]
        gold = {g.query_id: g for g in store.gold()}
        labels = store.labels()
    assert len(queries) == LABELS

    # (1) About the rate: binomial(60, 0.3) is 18 +- 3.5; fresh gold comes from privileged
    # progress with the margin, so each answer is the sign of its recorded gap.
    assert 0.15 * LABELS <= len(gold) <= 0.45 * LABELS, len(gold)
    assert all(g.source == "progress" and g.delta is not None for g in gold.values())
    assert all(g.answer == ("a" if g.delta > 0 else "b") for g in gold.values())

    # (2) Unmarked: within a round (queries added together share `created`), gold and
    # ordinary queries carry the same selector, score and k, are answered by the same
    # annotator with the same source, and sit at mixed places, not appended at the end.
    rounds = defaultdict(list)
    for q in queries:
        rounds[q.created].append(q)
    mixed_rounds = [r for r in rounds.values() if any(q.id in gold for q in r)]
    assert mixed_rounds
    for r in mixed_rounds:
        looks = {is_gold: {(q.selector, q.score, q.k) for q in r if (q.id in gold) == is_gold}
                 for is_gold in (True, False)}  # fmt: skip
        assert looks[False] in (set(), looks[True]), looks
    positions = [
        max(q.id for q in r if q.id not in gold) > min(q.id for q in r if q.id in gold)
        for r in mixed_rounds
        if any(q.id not in gold for q in r)
    ]
    assert any(positions)
    assert {(lab.annotator, lab.source) for lab in labels} == {("teacher:mistake",) * 2}

    # (3) The calibrated refit ran before every refit that had new labels, and the noise each
    # label got is its annotator's fitted mistake rate (the B-Pref flip 2 * eps).
    lines = [json.loads(s) for s in (run.reward / "calibration.jsonl").read_text().splitlines()]
    assert len(lines) >= 2
    assert [line["refit"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["labels"] == sum(lab.label != "skip" for lab in labels)
    assert lines[-1]["gold"] == len(gold)
    fit = next(r for r in lines[-1]["fits"] if r.get("annotator") == "teacher:mistake")
    assert not fit.get("insufficient"), fit
    assert fit["gold"] == sum(lab.query_id in gold for lab in labels if lab.label != "skip")
    right = sum(lab.label == gold[lab.query_id].answer for lab in labels if lab.query_id in gold)
    assert fit["gold_agreement"] == pytest.approx(right / fit["gold"], abs=1e-4)
    # ~18 gold answers of a teacher wrong 20% of the time: the fit sees mistakes, not a
    # perfect teacher, and not a coin.
    assert 0.03 <= fit["eps_mistake"] <= 0.45, fit
    used = lines[-1]["label_noise"]["teacher:mistake"]
    assert used["labels"] == lines[-1]["labels"]
    assert used["noise"] == pytest.approx(2 * fit["eps_mistake"], abs=1e-3)
    assert used["weight"] == 1.0


def test_without_calibration_no_gold_and_no_calibration_record(tiny):
    summary = train(tiny(**{"pebble.gold_rate": 0.0}))
    run = RunPaths.of(summary["run"])
    with LabelStore(run.labels) as store:
        assert store.gold() == []
        assert store.counts().queries > 0
    assert not (run.reward / "calibration.jsonl").exists()


def test_a_crowd_answers_every_query_as_five_annotators_and_is_calibrated_apart(tiny):
    from robopref.preferences.teachers import CROWD

    summary = train(
        tiny(
            labels=100,
            **{
                "teacher.name": "crowd",
                "pebble.labels_per_query": len(CROWD),
                "pebble.labels_per_round": 50,
                "pebble.gold_rate": 0.3,
                "pebble.reward_annotator_model": "calibrated",
            },
        )
    )
    run = RunPaths.of(summary["run"])
    with LabelStore(run.labels) as store:
        labels = store.labels()
        n_queries = store.counts().queries
    by_query = defaultdict(set)
    for lab in labels:
        by_query[lab.query_id].add(lab.annotator)
    crowd = {f"teacher:{name}" for name in CROWD}
    # every query answered once by each member, each under its own annotator id
    assert set(by_query) == set(range(1, n_queries + 1))
    assert all(annotators == crowd for annotators in by_query.values())
    assert len(labels) == len(CROWD) * n_queries
    assert {lab.source for lab in labels} == crowd
    # the budget counts the crowd's decisive labels, not its queries
    decisive = sum(lab.label != "skip" for lab in labels)
    assert summary["labels_used"] == decisive <= 100
    assert n_queries * len(CROWD) <= 100  # 50 labels a round: 10 queries of 5
    # the refit fitted each member apart: the oracle is read as reliable, the coin-like
    # mistake-0.4 teacher as the least reliable of the rational ones
    lines = [json.loads(s) for s in (run.reward / "calibration.jsonl").read_text().splitlines()]
    fits = {r["annotator"]: r for r in lines[-1]["fits"] if "annotator" in r}
    assert crowd <= set(fits)
    noise = lines[-1]["label_noise"]
    assert set(noise) == {a for a in crowd if not fits[a].get("insufficient")}
    if "teacher:oracle" in noise and "teacher:mistake-0.4" in noise:
        assert noise["teacher:oracle"]["noise"] < noise["teacher:mistake-0.4"]["noise"]
