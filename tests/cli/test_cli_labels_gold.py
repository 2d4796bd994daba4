"""``robopref labels gold`` and ``robopref labels calibrate`` through the CLI (issue 18)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from robopref.cli import main
from robopref.preferences import LabelStore
from robopref.runs import RunPaths

N_QUERIES = 80
ROW_KEYS = ["annotator", "labels", "gold", "gold_agreement", "beta", "eps_mistake", "p_skip",
            "p_equal"]  # fmt: skip


def _truth(i: int) -> str:
    return "a" if i % 3 else "b"


def _flip(answer: str) -> str:
    return {"a": "b", "b": "a"}[answer]


def _make_run(tmp_path, eps_alice: float = 0.2, seed: int = 0) -> RunPaths:
    """A run whose store has 80 queries: an expert answers the first 40 right, alice answers
    all with mistakes at ``eps_alice`` (and skips a few), carol answers all right, and bob
    answers only five."""
    run = RunPaths.of(str(tmp_path / "run"))
    run.root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    with LabelStore(run.labels) as store:
        ids = store.add_queries(
            [((f"ep{i}", 0, 10), (f"ep{i}", 10, 10), "uniform") for i in range(N_QUERIES)]
        )
        for i, qid in enumerate(ids):
            truth = _truth(i)
            if i < 40:
                store.add_label(qid, truth, "expert", source="ui")
            if i % 16 == 5:
                store.add_label(qid, "skip", "alice", source="ui")
            else:
                answer = _flip(truth) if rng.random() < eps_alice else truth
                store.add_label(qid, answer, "alice", source="ui")
            store.add_label(qid, truth, "carol", source="ui")
            if i < 5:
                store.add_label(qid, truth, "bob", source="ui")
    return run


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines()]


def _snapshot(run: RunPaths) -> tuple:
    with LabelStore(run.labels) as store:
        return store.counts(), store.gold(), store.labels()


def test_labels_gold_marks_the_experts_answers_and_queues_reasked_pairs(tmp_path, capsys):
    run = _make_run(tmp_path)
    assert main(["labels", "gold", str(run.root), "--from-annotator", "expert"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {
        "run": str(run.root), "annotator": "expert", "gold_added": 40, "gold_total": 40,
        "queued": 0,
    }  # fmt: skip
    with LabelStore(run.labels) as store:
        gold = store.gold()
    assert {g.query_id for g in gold} == set(range(1, 41))
    assert all(g.source == "annotator:expert" and g.delta is None for g in gold)
    assert [g.answer for g in gold] == [_truth(i) for i in range(40)]

    # Again, with a queue: nothing new is gold, five pairs are asked again, unmarked to the
    # people (same selector, no score) but answered on record, sides possibly swapped.
    argv = ["labels", "gold", str(run.root), "--from-annotator", "expert", "--queue", "5"]
    assert main(argv) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["gold_added"] == 0 and row["queued"] == 5 and row["gold_total"] == 45
    with LabelStore(run.labels) as store:
        assert store.counts().queries == N_QUERIES + 5
        new = [store.get_query(q) for q in range(N_QUERIES + 1, N_QUERIES + 6)]
        gold = {g.query_id: g for g in store.gold()}
    for q in new:
        assert (q.selector, q.score, q.n_labels, q.status) == ("uniform", None, 0, "open")
        g = gold[q.id]
        i = int(q.seg_a.episode_id[2:])
        assert g.answer == (_truth(i) if q.seg_a.start == 0 else _flip(_truth(i)))


def test_labels_calibrate_prints_a_row_per_annotator_and_alpha(tmp_path, capsys):
    run = _make_run(tmp_path)
    assert main(["labels", "gold", str(run.root), "--from-annotator", "expert"]) == 0
    capsys.readouterr()
    assert main(["labels", "calibrate", str(run.root), "--gaps", "off"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [r.get("annotator") for r in lines] == ["alice", "bob", "carol", "expert", None]
    rows = {r["annotator"]: r for r in lines[:-1]}
    for name in ("alice", "carol", "expert"):
        assert list(rows[name]) == ROW_KEYS, rows[name]

    # alice: 5 skips of 80; gold is the expert's first 40 queries (3 of them skipped).
    alice = rows["alice"]
    with LabelStore(run.labels) as store:
        mine = [lab for lab in store.labels() if lab.annotator == "alice"]
    on_gold = [lab for lab in mine if lab.query_id <= 40 and lab.label != "skip"]
    right = sum(lab.label == _truth(lab.query_id - 1) for lab in on_gold)
    assert alice["labels"] == 80 and alice["gold"] == len(on_gold) == 37
    assert alice["gold_agreement"] == pytest.approx(right / 37, abs=1e-4)
    assert alice["p_skip"] == pytest.approx(5 / 80, abs=1e-4) and alice["p_equal"] == 0.0
    assert alice["beta"] is None  # no gap is known with --gaps off
    assert 0.1 <= alice["eps_mistake"] <= 0.3
    # carol agrees with gold and the crowd everywhere; the expert's own gold is no evidence
    # about the expert.
    assert rows["carol"]["eps_mistake"] < 0.03 and rows["carol"]["gold_agreement"] == 1.0
    assert rows["expert"]["gold"] == 0 and rows["expert"]["gold_agreement"] is None

    # The insufficient case: a count, not a number that means nothing.
    assert rows["bob"] == {
        "annotator": "bob", "labels": 5, "gold": 5, "gold_agreement": None, "beta": None,
        "eps_mistake": None, "p_skip": None, "p_equal": None, "insufficient": True,
        "decisive": 5, "min_labels": 20,
    }  # fmt: skip
    alpha = lines[-1]
    assert set(alpha) == {"krippendorff_alpha", "queries", "annotators"}
    # Queries 53 and 69 have carol's answer alone (alice skipped, no expert): not shared.
    assert alpha["queries"] == N_QUERIES - 2 and alpha["annotators"] == 4
    assert 0.3 < alpha["krippendorff_alpha"] < 0.95

    # --min-labels moves bob above the threshold.
    assert main(["labels", "calibrate", str(run.root), "--gaps", "off", "--min-labels", "5"]) == 0
    bob = next(r for r in _lines(capsys.readouterr().out) if r.get("annotator") == "bob")
    assert "insufficient" not in bob and bob["eps_mistake"] is not None


def _save_episodes_with_progress(run: RunPaths) -> None:
    """Sim episodes behind `_make_run`'s queries: ep{i}'s first 10 steps gain more progress
    than its last 10 exactly where the truth is "a"."""
    from robopref.data import Episode, EpisodeStore

    store = EpisodeStore(run.episodes)
    for i in range(N_QUERIES):
        first, second = (0.6, 0.2) if _truth(i) == "a" else (0.2, 0.6)
        progress = np.r_[0.0, np.full(10, first / 10), np.full(10, second / 10)].cumsum()
        store.save(
            Episode(
                state=np.zeros((21, 2), np.float32), action=np.zeros((20, 1), np.float32),
                reward=np.zeros(20, np.float32), success=np.zeros(20, bool),
                timestamp=np.arange(21) * 0.1, progress=progress.astype(np.float32),
                metadata=dict(task="panda-reach", source="random", backend="mujoco", seed=i,
                              robot="panda", control_hz=10),
                episode_id=f"ep{i}",
            )
        )  # fmt: skip


def test_calibrate_truth_adds_each_annotators_error_against_the_privileged_gaps(tmp_path, capsys):
    run = _make_run(tmp_path, eps_alice=0.3)
    _save_episodes_with_progress(run)
    with LabelStore(run.labels) as store:
        alice = [lab for lab in store.labels() if lab.annotator == "alice" and lab.label != "skip"]
    flips = sum(lab.label != _truth(lab.query_id - 1) for lab in alice) / len(alice)
    assert 0.15 < flips < 0.45
    # The training-time fit (no gaps, no gold here: agreement only) beside the truth.
    argv = ["labels", "calibrate", str(run.root), "--gaps", "off", "--truth"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {r["annotator"]: r for r in _lines(out) if "annotator" in r}
    assert rows["alice"]["error_vs_truth"] == pytest.approx(flips, abs=1e-4)
    assert rows["carol"]["error_vs_truth"] == 0.0 and rows["expert"]["error_vs_truth"] == 0.0
    assert rows["alice"]["beta"] is None  # the fit saw no gap
    assert abs(rows["alice"]["eps_mistake"] - flips) < 0.05
    # The fit is the likelier reading of these answers (EM maximizes this likelihood).
    ll = _lines(out)[-1]["log_likelihood"]
    assert ll["fit"] >= ll["truth"] - 1e-6 and ll["truth"] < 0
    # With the gaps the fit has beta's scale; without --truth there is no such field.
    assert main(["labels", "calibrate", str(run.root)]) == 0
    lines = _lines(capsys.readouterr().out)
    rows = {r["annotator"]: r for r in lines if "annotator" in r}
    assert "error_vs_truth" not in rows["alice"] and rows["carol"]["beta"] is not None
    assert "log_likelihood" not in lines[-1]
    # A store whose episodes are gone (a real robot's, or deleted): no truth, not an error.
    for f in run.episodes.iterdir():
        f.unlink()
    assert main(["labels", "calibrate", str(run.root), "--gaps", "off", "--truth"]) == 0
    rows = {r["annotator"]: r for r in _lines(capsys.readouterr().out) if "annotator" in r}
    assert rows["alice"]["error_vs_truth"] is None


def test_contradicting_expert_answers_are_an_error_naming_the_pair(tmp_path, capsys):
    run = _make_run(tmp_path)
    # The expert answers the pair of query 1 again, shown the other way round, with the
    # same letter: with query 1's answer that says each side is better than the other.
    with LabelStore(run.labels) as store:
        q = store.add_query(("ep0", 10, 10), ("ep0", 0, 10), "uniform")
        store.add_label(q, _truth(0), "expert", source="ui")
    before = _snapshot(run)
    argv = ["labels", "gold", str(run.root), "--from-annotator", "expert", "--queue", "3"]
    assert main(argv) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert "contradicting gold answers on the pair ('ep0', 0, 10) vs ('ep0', 10, 10)" in err.err
    assert f"query 1 (annotator:expert) and query {q} (annotator:expert)" in err.err
    assert _snapshot(run) == before  # nothing written: no gold, no queued queries


def test_calibrate_refuses_contradicting_gold_in_the_store(tmp_path, capsys):
    run = _make_run(tmp_path)
    # A store written by other tools may hold a contradiction the store itself refuses.
    with LabelStore(run.labels) as store:
        q = store.add_query(("ep1", 10, 10), ("ep1", 0, 10), "uniform")
    with sqlite3.connect(run.labels) as conn:
        conn.executemany(
            "INSERT INTO gold (query_id, answer, source, delta, created) VALUES (?, ?, ?, ?, 0)",
            [(2, "a", "progress", 1.0), (q, "a", "annotator:x", None)],
        )
    before = _snapshot(run)
    assert main(["labels", "calibrate", str(run.root)]) == 2
    err = capsys.readouterr()
    assert err.out == ""  # not one row before the error
    assert "('ep1', 0, 10) vs ('ep1', 10, 10)" in err.err and f"query {q}" in err.err
    assert _snapshot(run) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["gold", "{run}", "--from-annotator", "nobody"], "annotator 'nobody' has no non-skip"),
        (["gold", "{run}", "--from-annotator", "expert", "--queue", "-1"], "--queue must be"),
        (["gold", "{run}", "--from-annotator", ""], "--from-annotator"),
        (["calibrate", "{run}", "--min-labels", "0"], "min_labels must be an int >= 1"),
        (["calibrate", "{missing}"], "no label store at"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    run = _make_run(tmp_path)
    before = _snapshot(run)
    argv = [a.format(run=run.root, missing=tmp_path / "missing") for a in argv]
    assert main(["labels", *argv]) == 2
    err = capsys.readouterr()
    assert err.out == "" and message in err.err, err.err
    assert _snapshot(run) == before
    assert not (tmp_path / "missing").exists()
