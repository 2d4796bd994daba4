"""The label store across processes: concurrent writers lose nothing and never see "database
is locked"; a writer killed with SIGKILL right after an acknowledgement leaves that label
stored and the database intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from robopref.preferences import LabelStore

WORKER = Path(__file__).with_name("_label_worker.py")
SEG_A, SEG_B = ("ep1", 0, 10), ("ep2", 5, 10)

pytestmark = pytest.mark.subprocess


def start_worker(db: Path, annotator: str, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), annotator, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def test_four_processes_write_500_labels_each(tmp_path):
    db, n_workers, per_worker = tmp_path / "labels.db", 4, 500
    with LabelStore(db) as store:
        # k = n_workers: every worker answers every query, and each is done at the end.
        store.add_queries([(SEG_A, SEG_B, "uniform", None, n_workers)] * per_worker)
    workers = [start_worker(db, f"worker{i}", "race") for i in range(n_workers)]
    for w in workers:
        assert w.stdout.readline().strip() == "ready"
    for w in workers:  # release them together, so they contend for the write lock
        w.stdin.write("go\n")
        w.stdin.flush()
    results = [w.communicate(timeout=120) for w in workers]
    for w, (_, err) in zip(workers, results):
        assert w.returncode == 0, err
        assert "locked" not in err
    with LabelStore(db) as store:
        rows = store.labels()
        counts = store.counts()
    assert len(rows) == n_workers * per_worker == 2000
    assert [r.id for r in rows] == list(range(1, 2001))  # commit order, no gaps
    for i in range(n_workers):
        mine = [r.query_id for r in rows if r.annotator == f"worker{i}"]
        assert sorted(mine) == list(range(1, per_worker + 1))
    assert (counts.labelled, counts.queued, counts.labels) == (per_worker, 0, 2000)
    assert integrity(db) == "ok"


@pytest.mark.parametrize("acks_before_kill", [1, 37, 240])
def test_sigkill_after_ack_keeps_the_label(tmp_path, acks_before_kill):
    db = tmp_path / "labels.db"
    with LabelStore(db) as store:
        store.add_queries([(SEG_A, SEG_B, "uniform")] * 5000)
    worker = start_worker(db, "writer", "ack")
    acked = []
    for line in worker.stdout:
        acked.append(line.split())
        if len(acked) == acks_before_kill:
            os.kill(worker.pid, signal.SIGKILL)  # it is still writing the next labels
            break
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read()
    assert len(acked) == acks_before_kill
    assert integrity(db) == "ok"
    with LabelStore(db) as store:
        stored = {(str(r.id), r.client_label_id) for r in store.labels()}
        assert {(label_id, client_id) for _, label_id, client_id in acked} <= stored
        # The store is usable after the crash: the next query is after the last stored one.
        nxt = store.next_query("writer")
        assert nxt.id == len(stored) + 1
        store.add_label(nxt.id, "a", "writer", source="ui")
    assert integrity(db) == "ok"


def _label_in_child(store: LabelStore, query_id: int) -> None:
    # Uses the parent's LabelStore object: it must open its own connection after fork.
    store.add_label(query_id, "b", "child", source="ui")
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_store_object_survives_fork(tmp_path):
    import multiprocessing

    with LabelStore(tmp_path / "labels.db") as store:
        qid = store.add_query(SEG_A, SEG_B, "uniform", k=2)
        store.add_label(qid, "a", "parent", source="ui")
        child = multiprocessing.get_context("fork").Process(
            target=_label_in_child, args=(store, qid)
        )
        child.start()
        child.join(timeout=60)
        assert child.exitcode == 0
        # The parent's connection still works after the child closed its own.
        assert [r.annotator for r in store.labels()] == ["parent", "child"]
        assert store.get_query(qid).status == "done"
    assert integrity(tmp_path / "labels.db") == "ok"


def test_importing_the_package_does_not_import_torch(tmp_path):
    # Uniform selection, a teacher and the store work without torch; scoring imports it.
    code = f"""
import sys, numpy as np
import robopref.preferences as p
from robopref.data import Episode
assert 'torch' not in sys.modules, 'eager torch import'
md = dict(task='t', source='random', backend='test', seed=0, robot='r', control_hz=10)
ep = Episode(state=np.zeros((11, 2)), action=np.zeros((10, 1)), reward=np.arange(10.0),
             success=np.zeros(10, bool), timestamp=np.arange(11.0), metadata=md, episode_id='e')
rng = np.random.default_rng(0)
specs = p.select_queries('uniform', p.SegmentPool([ep], 3), 4, rng)
with p.LabelStore({str(tmp_path / "labels.db")!r}) as store:
    store.add_queries(specs)
    assert len(p.answer_queries(store, {{'e': ep}}, p.make_teacher('oracle'), rng)) == 4
assert 'torch' not in sys.modules, 'torch imported by uniform selection or labelling'
"""
    subprocess.run([sys.executable, "-c", code], check=True)
