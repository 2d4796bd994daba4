"""The SQLite label store: every method, bad input writes nothing, idempotent retries, undo,
skip semantics, export round trips, schema versions and threads sharing one store."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time

import pytest

from robopref.preferences import (
    EXPORT_FIELDS,
    SCHEMA_VERSION,
    Counts,
    DuplicateLabelError,
    LabelStore,
    LabelStoreError,
    QuerySpec,
    SchemaVersionError,
    SegmentRef,
    UnknownQueryError,
    read_labels,
)

SEG_A = ("ep1", 0, 10)
SEG_B = ("ep2", 5, 10)


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "labels.db") as s:
        yield s


def snapshot(store: LabelStore) -> tuple:
    """Everything observable, to check that a refused call wrote nothing."""
    queries = []
    qid = 1
    while True:
        try:
            queries.append(store.get_query(qid))
        except UnknownQueryError:
            break
        qid += 1
    return store.counts(), store.labels(), queries


# ------------------------------------------------------------------ queries


def test_add_query_and_get_query_round_trip(store):
    before = time.time()
    qid = store.add_query(SEG_A, SEG_B, "disagreement", score=0.25, k=2)
    q = store.get_query(qid)
    assert q.id == qid == 1
    assert q.seg_a == SegmentRef("ep1", 0, 10) and q.seg_b == SegmentRef("ep2", 5, 10)
    assert (q.selector, q.score, q.k, q.status, q.n_labels) == ("disagreement", 0.25, 2, "open", 0)
    assert before <= q.created <= time.time()
    assert store.add_query(SEG_B, SEG_A, "uniform") == 2
    assert store.get_query(2).score is None and store.get_query(2).k == 1


def test_add_queries_batch_returns_ids_in_order(store):
    specs = [
        QuerySpec(SEG_A, SEG_B, "entropy", 0.6),
        (SEG_B, SEG_A, "uniform"),  # plain tuples work too
        (("ep3", 1, 10), ("ep4", 2, 10), "entropy", 0.5, 3),
    ]
    ids = store.add_queries(specs)
    assert ids == [1, 2, 3]
    q = store.get_query(3)
    assert (q.seg_a, q.selector, q.score, q.k) == (SegmentRef("ep3", 1, 10), "entropy", 0.5, 3)
    assert store.add_queries([]) == []


BAD_QUERIES = {
    "negative start": (("ep1", -1, 10), SEG_B, "uniform", None, 1),
    "zero length": (("ep1", 0, 0), SEG_B, "uniform", None, 1),
    "float start": (("ep1", 0.5, 10), SEG_B, "uniform", None, 1),
    "path-like episode id": (("../x", 0, 10), SEG_B, "uniform", None, 1),
    "not a triple": (("ep1", 0), SEG_B, "uniform", None, 1),
    "empty selector": (SEG_A, SEG_B, "", None, 1),
    "nan score": (SEG_A, SEG_B, "uniform", float("nan"), 1),
    "string score": (SEG_A, SEG_B, "uniform", "high", 1),
    "k zero": (SEG_A, SEG_B, "uniform", None, 0),
    "k bool": (SEG_A, SEG_B, "uniform", None, True),
    "start past int64": (("ep1", 2**63, 10), SEG_B, "uniform", None, 1),
    "k past int64": (SEG_A, SEG_B, "uniform", None, 2**64),
    "selector with NUL": (SEG_A, SEG_B, "uni\x00form", None, 1),
    "selector lone surrogate": (SEG_A, SEG_B, "uni\ud800", None, 1),
}


@pytest.mark.parametrize("bad", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_query_is_refused_and_the_batch_writes_nothing(store, bad):
    store.add_query(SEG_A, SEG_B, "uniform")
    before = snapshot(store)
    with pytest.raises(LabelStoreError):
        store.add_query(*bad)
    # One bad query in a batch: the good one before it is not written either.
    with pytest.raises(LabelStoreError, match=r"queries\[1\]"):
        store.add_queries([(SEG_A, SEG_B, "uniform"), bad])
    assert snapshot(store) == before


def test_get_query_unknown_id(store):
    with pytest.raises(UnknownQueryError, match="no query with id 7"):
        store.get_query(7)
    assert issubclass(UnknownQueryError, ValueError)


def test_next_query_serves_oldest_open_unanswered_query(store):
    ids = store.add_queries([(SEG_A, SEG_B, "uniform")] * 3)
    assert store.next_query("alice").id == ids[0]
    assert store.next_query("alice", exclude=[ids[0]]).id == ids[1]
    assert store.next_query("alice", exclude=ids) is None
    store.add_label(ids[0], "a", "alice", source="ui")
    # k=1: query 1 is done, so nobody gets it again.
    assert store.next_query("alice").id == ids[1]
    assert store.next_query("bob").id == ids[1]
    store.add_label(ids[1], "skip", "alice", source="ui")
    # alice skipped query 2: not shown to her again, but still open for bob.
    assert store.next_query("alice").id == ids[2]
    assert store.next_query("bob").id == ids[1]
    store.add_label(ids[2], "b", "alice", source="ui")
    assert store.next_query("alice") is None
    with pytest.raises(LabelStoreError):
        store.next_query("")


# ------------------------------------------------------------------ labels


def test_query_is_done_after_k_non_skip_labels(store):
    qid = store.add_query(SEG_A, SEG_B, "uniform", k=2)
    store.add_label(qid, "skip", "alice", source="ui")
    assert (store.get_query(qid).status, store.get_query(qid).n_labels) == ("open", 0)
    store.add_label(qid, "a", "bob", source="ui")
    assert (store.get_query(qid).status, store.get_query(qid).n_labels) == ("open", 1)
    store.add_label(qid, "equal", "carol", source="ui")
    assert (store.get_query(qid).status, store.get_query(qid).n_labels) == ("done", 2)
    assert store.next_query("dave") is None
    # A late answer to a done query is kept (two people were shown it at once).
    late = store.add_label(qid, "b", "dave", source="ui")
    assert not late.duplicate and store.get_query(qid).n_labels == 3
    assert [lab.annotator for lab in store.labels()] == ["alice", "bob", "carol", "dave"]


def test_add_label_returns_the_committed_row(store):
    qid = store.add_query(SEG_A, SEG_B, "uniform")
    before = time.time()
    ack = store.add_label(qid, "a", "alice", client_label_id="c-1", source="teacher:oracle")
    assert not ack.duplicate
    row = ack.label
    assert (row.query_id, row.label, row.annotator) == (qid, "a", "alice")
    assert (row.client_label_id, row.source) == ("c-1", "teacher:oracle")
    assert (row.seg_a, row.seg_b) == (SegmentRef(*SEG_A), SegmentRef(*SEG_B))
    assert before <= row.created <= time.time()
    # Committed: a second, independent connection sees it.
    with LabelStore(store.path) as other:
        assert other.labels() == [row]


BAD_LABELS = {
    "unknown query": dict(query_id=99),
    "uppercase label": dict(label="A"),
    "label word": dict(label="yes"),
    "label None": dict(label=None),
    "empty annotator": dict(annotator=""),
    "blank annotator": dict(annotator="   "),
    "padded annotator": dict(annotator=" alice"),
    "annotator not str": dict(annotator=3),
    "empty source": dict(source=""),
    "empty client id": dict(client_label_id=""),
    "negative query id": dict(query_id=-1),
    # Issue 15: these reached SQLite and raised OverflowError / UnicodeEncodeError, or stored.
    "query id past int64": dict(query_id=2**63),
    "annotator with NUL": dict(annotator="al\x00ice"),
    "annotator with newline": dict(annotator="al\nice"),
    "annotator with escape": dict(annotator="\x1b[2Jalice"),
    "annotator with DEL": dict(annotator="alice\x7f"),
    "annotator with C1 control": dict(annotator="al\x85ice"),
    "annotator with line separator": dict(annotator="al\u2028ice"),
    "annotator lone surrogate": dict(annotator="\ud800"),
    "annotator too long": dict(annotator="a" * 257),
    "client id lone surrogate": dict(client_label_id="id\udc80"),
    "client id with NUL": dict(client_label_id="id\x00"),
    "source with tab": dict(source="ui\tx"),
}


@pytest.mark.parametrize("change", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_bad_label_is_refused_and_nothing_is_written(store, change):
    qid = store.add_query(SEG_A, SEG_B, "uniform", k=3)
    store.add_label(qid, "a", "bob", source="ui")
    before = snapshot(store)
    args = dict(query_id=qid, label="b", annotator="alice", client_label_id=None, source="ui")
    args.update(change)
    with pytest.raises(LabelStoreError):
        store.add_label(**args)
    assert snapshot(store) == before


def test_names_may_be_any_printable_text(store):
    qid = store.add_query(SEG_A, SEG_B, "uniform", k=3)
    for name in ("Zoë Ångström", "山田 太郎", 'o\'brien "ob"', "a" * 256, "🤖 teacher:oracle"):
        assert store.add_label(qid, "skip", name, source="ui").label.annotator == name
    assert store.get_query(qid).n_labels == 0  # skips
    with pytest.raises(UnknownQueryError):
        store.get_query(2**63 - 1)  # the largest storable id is a valid question


@pytest.mark.parametrize("annotator", ["a\x00b", "\ud800", "x\x1b", "", "b" * 257])
def test_reads_and_undo_refuse_bad_annotators_with_the_store_error(store, annotator):
    qid = store.add_query(SEG_A, SEG_B, "uniform")
    store.add_label(qid, "a", "bob", source="ui")
    before = snapshot(store)
    with pytest.raises(LabelStoreError, match="annotator"):
        store.next_query(annotator)
    with pytest.raises(LabelStoreError, match="annotator"):
        store.undo_last(annotator)
    with pytest.raises(LabelStoreError, match=r"exclude\[\] must be an int <="):
        store.next_query("bob", exclude=[2**63])
    with pytest.raises(LabelStoreError, match="query_id must be an int <="):
        store.get_query(2**64)
    assert snapshot(store) == before


def test_unknown_query_error_is_typed(store):
    with pytest.raises(UnknownQueryError, match="no query with id 5"):
        store.add_label(5, "a", "alice", source="ui")


def test_one_label_per_annotator_per_query(store):
    qid = store.add_query(SEG_A, SEG_B, "uniform", k=2)
    store.add_label(qid, "a", "alice", source="ui")
    before = snapshot(store)
    with pytest.raises(DuplicateLabelError, match=r"already labelled query 1.*undo_last"):
        store.add_label(qid, "b", "alice", source="ui")
    assert snapshot(store) == before
    store.add_label(qid, "b", "bob", source="ui")  # another annotator is fine


def test_same_client_label_id_is_stored_once(store):
    qid = store.add_query(SEG_A, SEG_B, "uniform")
    first = store.add_label(qid, "a", "alice", client_label_id="click-1", source="ui")
    again = store.add_label(qid, "a", "alice", client_label_id="click-1", source="ui")
    assert again.duplicate and not first.duplicate
    assert again.label == first.label
    assert len(store.labels()) == 1
    # The same client id naming a different label is a client bug, refused.
    with pytest.raises(LabelStoreError, match="already names label 1"):
        store.add_label(qid, "b", "alice", client_label_id="click-1", source="ui")
    assert len(store.labels()) == 1


def test_concurrent_retries_of_one_client_id_store_it_once(store):
    qid = store.add_query(SEG_A, SEG_B, "uniform")
    acks, start = [], threading.Barrier(8)

    def post():
        start.wait()
        acks.append(store.add_label(qid, "equal", "alice", client_label_id="c", source="ui"))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.labels()) == 1
    assert sorted(a.duplicate for a in acks) == [False] + [True] * 7
    assert len({a.label for a in acks}) == 1


def test_undo_last_deletes_the_annotators_latest_label_and_reopens_its_query(store):
    q1, q2 = store.add_queries([(SEG_A, SEG_B, "uniform")] * 2)
    l1 = store.add_label(q1, "a", "alice", source="ui").label
    store.add_label(q1, "b", "bob", source="ui")
    l2 = store.add_label(q2, "b", "alice", source="ui").label
    assert store.get_query(q2).status == "done"
    assert store.undo_last("alice") == l2
    assert store.get_query(q2).status == "open"
    assert [lab.id for lab in store.labels()] == [l1.id, 2]
    assert store.next_query("alice").id == q2
    # Relabelling gets a new id: ids are never reused, so since_id polling stays sound.
    assert store.add_label(q2, "a", "alice", source="ui").label.id == 4
    assert store.undo_last("alice").id == 4
    assert store.undo_last("alice") == l1
    assert store.undo_last("alice") is None
    assert [lab.annotator for lab in store.labels()] == ["bob"]
    with pytest.raises(LabelStoreError):
        store.undo_last("")


def test_labels_since_id_in_commit_order(store):
    qids = store.add_queries([(SEG_A, SEG_B, "uniform")] * 5)
    for i, qid in enumerate(qids):
        store.add_label(qid, "ab"[i % 2], "alice", source="ui")
    rows = store.labels()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert [r.query_id for r in rows] == qids
    assert store.labels(since_id=3) == rows[3:]
    assert store.labels(since_id=1, limit=2) == rows[1:3]
    assert store.labels(since_id=5) == []
    with pytest.raises(LabelStoreError):
        store.labels(since_id=-1)


def test_counts(store):
    assert store.counts() == Counts(0, 0, 0, 0, {"a": 0, "b": 0, "equal": 0, "skip": 0})
    q1, q2, q3, _ = store.add_queries([(SEG_A, SEG_B, "uniform")] * 4)
    store.add_label(q1, "a", "alice", source="ui")
    store.add_label(q2, "equal", "alice", source="ui")
    store.add_label(q3, "skip", "alice", source="ui")
    store.add_label(q3, "a", "bob", source="ui")
    counts = store.counts()
    assert (counts.queries, counts.queued, counts.labelled, counts.labels) == (4, 1, 3, 4)
    assert counts.by_label == {"a": 2, "b": 0, "equal": 1, "skip": 1}


# ------------------------------------------------------------------ export


@pytest.fixture
def labelled(store):
    qids = store.add_queries([(SEG_A, SEG_B, "uniform"), (("e-3", 2, 4), ("e.4", 0, 4), "x")])
    store.add_label(qids[0], "a", "alice", client_label_id="k1", source="ui")
    store.add_label(qids[0], "skip", "bob", source="teacher:skip")
    store.add_label(qids[1], "equal", 'alice,with "quotes"', source="ui")
    return store


def test_export_csv_parses_back(labelled, tmp_path):
    path = tmp_path / "out" / "labels.csv"
    path.parent.mkdir()
    assert labelled.export(path) == 3
    with open(path, newline="") as f:
        records = list(csv.DictReader(f))
    assert tuple(records[0]) == EXPORT_FIELDS
    rows = labelled.labels()
    for rec, row in zip(records, rows, strict=True):
        assert rec["label"] == row.label and rec["annotator"] == row.annotator
        assert int(rec["a_start"]) == row.seg_a.start and rec["b_episode"] == row.seg_b.episode_id
        assert float(rec["created"]) == row.created
    assert records[1]["client_label_id"] == ""
    with open(path, newline="") as f:
        assert read_labels(f, "csv") == rows
    assert [p.name for p in path.parent.iterdir()] == ["labels.csv"]  # no temp file left


def test_export_jsonl_parses_back(labelled, tmp_path):
    path = tmp_path / "labels.jsonl"
    assert labelled.export(str(path), format="jsonl") == 3
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    rows = labelled.labels()
    assert [r["id"] for r in records] == [r.id for r in rows]
    assert records[1]["client_label_id"] is None
    assert records[2]["annotator"] == 'alice,with "quotes"'
    assert read_labels(io.StringIO(path.read_text()), "jsonl") == rows


def test_export_to_an_open_file_and_bad_format(labelled):
    buf = io.StringIO()
    assert labelled.export(buf, format="csv") == 3
    assert read_labels(io.StringIO(buf.getvalue()), "csv") == labelled.labels()
    with pytest.raises(LabelStoreError, match="unknown export format 'xml'"):
        labelled.export(io.StringIO(), format="xml")
    with pytest.raises(LabelStoreError, match="fields"):
        read_labels(io.StringIO("id,label\n1,a\n"), "csv")


# ------------------------------------------------------------------ the file


def test_schema_version_and_wal_are_set(tmp_path):
    path = tmp_path / "labels.db"
    LabelStore(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"queries", "labels"} <= tables
    con.close()


def test_reopening_keeps_the_data(tmp_path):
    path = tmp_path / "sub" / "labels.db"  # the folder is created
    with LabelStore(path) as s:
        qid = s.add_query(SEG_A, SEG_B, "uniform")
        row = s.add_label(qid, "a", "alice", source="ui").label
    with LabelStore(path) as s:
        assert s.labels() == [row]


def test_other_schema_version_is_refused(tmp_path):
    path = tmp_path / "labels.db"
    with LabelStore(path) as s:
        s.add_query(SEG_A, SEG_B, "uniform")
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 99.*versions 1 to 2"):
        LabelStore(path)


def test_other_database_or_file_is_refused(tmp_path):
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(LabelStoreError, match="other tables"):
        LabelStore(other)
    con = sqlite3.connect(other)
    con.execute("PRAGMA application_id = 7")
    con.commit()
    con.close()
    with pytest.raises(LabelStoreError, match="another application"):
        LabelStore(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(LabelStoreError, match="not a SQLite database"):
        LabelStore(junk)


def test_closed_store_refuses_calls(tmp_path):
    s = LabelStore(tmp_path / "labels.db")
    s.close()
    with pytest.raises(LabelStoreError, match="closed"):
        s.counts()
    with LabelStore(tmp_path / "labels.db") as s2:
        pass
    with pytest.raises(LabelStoreError, match="closed"):
        s2.add_query(SEG_A, SEG_B, "uniform")


def test_threads_share_one_store(store):
    n_threads, per_thread = 4, 60
    store.add_queries([(SEG_A, SEG_B, "uniform", None, n_threads)] * per_thread)
    errors, start = [], threading.Barrier(n_threads)

    def work(name):
        try:
            start.wait()
            while (q := store.next_query(name)) is not None:
                store.add_label(q.id, "a", name, client_label_id=f"{name}-{q.id}", source="ui")
        except Exception as e:  # collected and re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = store.labels()
    assert len(rows) == n_threads * per_thread
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert store.counts().labelled == per_thread
