"""The label store: preference queries and their labels in one SQLite file (DESIGN.md contract 5).

Scripted teachers and the browser UI write labels here; the training loop reads them. It is a
plain SQLite database (stdlib ``sqlite3``), so any SQLite tool can inspect it.

Schema (version `SCHEMA_VERSION`, kept in ``PRAGMA user_version``; ``PRAGMA application_id``
marks the file as a robopref label store):

* ``queries``: ``id``, ``created`` (Unix seconds), ``selector``, ``score`` (NULL for
  unscored selectors), segment A and B as ``(a_episode, a_start, a_length)`` and
  ``(b_episode, b_start, b_length)``, ``k`` (labels wanted) and ``status`` (``open``/``done``).
* ``labels``: ``id``, ``query_id``, ``label`` (``a``/``b``/``equal``/``skip``),
  ``annotator``, ``created``, ``client_label_id`` (unique; for idempotent retries) and
  ``source`` (``"teacher:oracle"``, ``"ui"``, ...). At most one label per (query, annotator).
* ``gold`` (since version 2): ``query_id`` (one answer per query), ``answer``
  (``a``/``b``/``equal``), ``source`` (``"progress"``, ``"annotator:NAME"``), ``delta`` (the
  privileged return difference A - B in sim; NULL for an expert's answer) and ``created``.
  A gold query is an ordinary query to everyone who answers it: nothing in ``queries`` or
  ``labels`` marks it, so the UI cannot tell it apart (issue 18).

Older stores are migrated in place when opened (one transaction per step, so a crash leaves
the old version or the new one): version 1 gains the empty ``gold`` table.

Rules:

* **Skips.** As in B-Pref, "skip" means "not labelled": it trains nothing
  (`robopref.preferences.labels_to_targets` drops it) and does not count towards ``k``. It does
  count as that annotator's answer: `LabelStore.next_query` will not show the query to them
  again, but other annotators still get it. A query is ``done`` once it has ``k`` non-skip
  labels. A query every annotator skipped stays open; it is never served to them again.
* **Labels on a done query are kept.** Two annotators may be shown the same last query at
  once; the later answer is still a valid label (the trainer averages or keeps both), so
  it is stored rather than thrown away.
* **Durability.** A write runs in ``BEGIN IMMEDIATE`` ... ``COMMIT`` in WAL mode with
  ``synchronous=FULL``; a method returns only after its transaction committed, so an
  acknowledged label survives a crash of the process (and, with FULL, of the machine).
* **Commit order.** ``BEGIN IMMEDIATE`` serializes writers, so ids (AUTOINCREMENT, never
  reused) grow in commit order, and a trainer polling ``labels(since_id=last_seen)`` misses
  nothing. `LabelStore.undo_last` deletes a row; an incremental reader notices through
  `LabelStore.counts`, or re-reads everything (PEBBLE refits on all labels each round).

Concurrency: several processes may open the same file. One `LabelStore` object may be used
from several threads: it opens one connection per thread (and a fresh one after ``fork``), and
waits up to ``busy_timeout`` seconds for another writer instead of failing with "database is
locked". Open one store per process where you can; call `LabelStore.close` once its threads are
done with it. The file must be on a local disk (WAL needs shared memory; not NFS).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from robopref.data.storage import atomic_path
from robopref.preferences.records import (
    EXPORT_FORMATS,
    LABELS,
    AddedLabel,
    Counts,
    DuplicateLabelError,
    GoldAnswer,
    GoldConflictError,
    GoldSpec,
    Label,
    LabelStoreError,
    Query,
    QuerySpec,
    SchemaVersionError,
    UnknownQueryError,
    check_gold_consistency,
    check_gold_spec,
    check_int,
    check_query_spec,
    check_text,
    row_to_gold,
    row_to_label,
    row_to_query,
    write_labels,
)

SCHEMA_VERSION = 2
#: ``PRAGMA application_id`` of a label store ("RPLS").
APPLICATION_ID = 0x52504C53
_SCHEMA = """
CREATE TABLE queries (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    created   REAL    NOT NULL,
    selector  TEXT    NOT NULL CHECK (selector <> ''),
    score     REAL,
    a_episode TEXT    NOT NULL, a_start INTEGER NOT NULL, a_length INTEGER NOT NULL,
    b_episode TEXT    NOT NULL, b_start INTEGER NOT NULL, b_length INTEGER NOT NULL,
    k         INTEGER NOT NULL DEFAULT 1 CHECK (k >= 1),
    status    TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done'))
);
CREATE INDEX queries_open ON queries (status, id);
CREATE TABLE labels (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id        INTEGER NOT NULL REFERENCES queries (id),
    label           TEXT    NOT NULL CHECK (label IN ('a', 'b', 'equal', 'skip')),
    annotator       TEXT    NOT NULL CHECK (annotator <> ''),
    created         REAL    NOT NULL,
    client_label_id TEXT    UNIQUE,
    source          TEXT    NOT NULL CHECK (source <> ''),
    UNIQUE (query_id, annotator)
);
CREATE INDEX labels_by_annotator ON labels (annotator, id);
"""
_GOLD_TABLE = """
CREATE TABLE gold (
    query_id INTEGER PRIMARY KEY REFERENCES queries (id),
    answer   TEXT    NOT NULL CHECK (answer IN ('a', 'b', 'equal')),
    source   TEXT    NOT NULL CHECK (source <> ''),
    delta    REAL,
    created  REAL    NOT NULL
);
"""
_SCHEMA += _GOLD_TABLE
#: Statements that take a store from version ``v`` to ``v + 1``.
_MIGRATIONS = {1: _GOLD_TABLE}
_GOLD_SELECT = (
    "SELECT g.query_id, g.answer, g.source, g.delta, g.created, q.a_episode, q.a_start, "
    "q.a_length, q.b_episode, q.b_start, q.b_length FROM gold g JOIN queries q ON q.id = g.query_id"
)
_QUERY_COLS = (
    "q.id, q.created, q.selector, q.score, q.a_episode, q.a_start, q.a_length, q.b_episode, "
    "q.b_start, q.b_length, q.k, q.status, (SELECT COUNT(*) FROM labels n "
    "WHERE n.query_id = q.id AND n.label <> 'skip')"
)
_LABEL_SELECT = (
    "SELECT l.id, l.query_id, l.label, l.annotator, l.created, l.client_label_id, l.source, "
    "q.a_episode, q.a_start, q.a_length, q.b_episode, q.b_start, q.b_length "
    "FROM labels l JOIN queries q ON q.id = l.query_id"
)
# Recomputes a query's status from its labels (after a label is added or undone).
_SYNC_STATUS = (
    "UPDATE queries SET status = CASE WHEN (SELECT COUNT(*) FROM labels l WHERE "
    "l.query_id = queries.id AND l.label <> 'skip') >= k THEN 'done' ELSE 'open' END WHERE id = ?"
)


class LabelStore:
    """Preference queries and labels in a SQLite file; safe across processes and threads.

    Args:
        path: the database file; created (with its parent folder) if missing.
        busy_timeout: seconds a write waits for another writer before failing.

    Raises:
        SchemaVersionError: the file is a label store of another schema version.
        LabelStoreError: the file is not a SQLite database, or one that is not a label store.
    """

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = float(busy_timeout)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn()  # opens (and creates or checks) the file now, so errors surface here

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise LabelStoreError(f"label store {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = self._open()
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not touch (or close) its parent's connections.
                self._pid, self._conns = os.getpid(), []
            self._conns.append(conn)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False only
        # so that close() can close every thread's connection; each is used by one thread.
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":  # readers would block writers (and vice versa) without it
                raise LabelStoreError(
                    f"{self.path}: SQLite could not switch to WAL mode (got {mode!r}); "
                    "keep the label store on a local disk"
                )
            conn.execute("PRAGMA synchronous = FULL")  # an acknowledged label survives power loss
            conn.execute("PRAGMA foreign_keys = ON")
            if self._version(conn) == 0:
                self._create(conn)
            version = self._version(conn)
            if 1 <= version < SCHEMA_VERSION:
                self._migrate(conn)
                version = self._version(conn)
            if version != SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{self.path}: label store schema version {version}; this robopref reads "
                    f"versions 1 to {SCHEMA_VERSION} (older ones are migrated when opened); use "
                    "a matching robopref"
                )
        except sqlite3.DatabaseError as e:
            conn.close()
            if isinstance(e, sqlite3.OperationalError):
                raise
            raise LabelStoreError(f"{self.path}: not a SQLite database ({e})") from e
        except BaseException:
            conn.close()
            raise
        return conn

    def _version(self, conn: sqlite3.Connection) -> int:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and version != 0):
            raise LabelStoreError(
                f"{self.path}: a SQLite database of another application (application_id "
                f"{app_id:#x}, user_version {version}), not a robopref label store"
            )
        return version

    def _create(self, conn: sqlite3.Connection) -> None:
        with self._write(conn):
            if self._version(conn) != 0:  # another process created it meanwhile
                return
            if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                raise LabelStoreError(
                    f"{self.path}: a SQLite database with other tables, not a label store"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Brings an older store up to `SCHEMA_VERSION`, one transaction per version step.

        The version is re-read inside each write transaction: another process opening the
        same file may have migrated it meanwhile.
        """
        while True:
            with self._write(conn):
                version = self._version(conn)
                if version >= SCHEMA_VERSION:
                    return
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction: returns only after COMMIT; rolls back on any error."""
        conn = self._conn() if conn is None else conn
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout): a deferred
        # transaction that upgrades from read to write can fail with SQLITE_BUSY at once.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every SELECT inside sees one snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Closes this process's connections (all threads'); later calls raise."""
        with self._lock:
            if self._pid == os.getpid():
                for conn in self._conns:
                    conn.close()
            self._conns, self._closed = [], True

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"

    # ------------------------------------------------------------------ queries
    def add_query(
        self, seg_a: Any, seg_b: Any, selector: str, score: float | None = None, k: int = 1
    ) -> int:
        """Adds one query; returns its id. Segments are ``(episode_id, start, length)``."""
        return self.add_queries([QuerySpec(seg_a, seg_b, selector, score, k)])[0]

    def add_queries(
        self,
        queries: Iterable[QuerySpec | tuple[Any, ...]],
        gold: Iterable[GoldSpec | tuple[Any, ...] | None] | None = None,
    ) -> list[int]:
        """Adds queries in one transaction (all or none); returns their ids, in order.

        Args:
            queries: `QuerySpec` (or tuples ``(seg_a, seg_b, selector[, score[, k]])``), as
                `robopref.preferences.select_queries` returns them.
            gold: one entry per query: its known answer (`GoldSpec`), or None for an
                ordinary query. A gold query and its answer commit together, so a gold query
                is never served without its answer on record.

        Raises:
            LabelStoreError: naming the first bad query; nothing is written.
            GoldConflictError: a gold answer contradicts another on the same pair.
        """
        rows = [check_query_spec(i, q) for i, q in enumerate(queries)]
        given: list[Any] = [None] * len(rows) if gold is None else list(gold)
        if len(given) != len(rows):
            raise LabelStoreError(f"gold: {len(given)} entries for {len(rows)} queries")
        golds = [None if g is None else check_gold_spec(i, g) for i, g in enumerate(given)]
        now = time.time()
        with self._write() as conn:
            ids: list[int] = []
            for row in rows:
                qid = conn.execute(
                    "INSERT INTO queries (created, selector, score, a_episode, a_start, a_length, "
                    "b_episode, b_start, b_length, k) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, *row),
                ).lastrowid
                assert qid is not None  # an INSERT sets it
                ids.append(qid)
            marked = [(qid, g) for qid, g in zip(ids, golds) if g is not None]
            if marked:
                self._insert_gold(conn, marked, now)
        return ids

    def _insert_gold(
        self, conn: sqlite3.Connection, items: list[tuple[int, GoldSpec]], now: float
    ) -> None:
        """Inserts gold answers inside a write transaction, refusing contradictions."""
        existing = {g.query_id: g for g in map(row_to_gold, conn.execute(_GOLD_SELECT))}
        new: list[tuple[int, GoldSpec]] = []
        for qid, spec in items:
            old = existing.get(qid)
            if old is not None and old.answer != spec.answer:
                raise GoldConflictError(
                    f"query {qid} ({tuple(old.seg_a)} vs {tuple(old.seg_b)}) already has the "
                    f"gold answer {old.answer!r} from {old.source!r}; {spec.source!r} says "
                    f"{spec.answer!r}"
                )
            if old is None and all(qid != q or spec != g for q, g in new):
                new.append((qid, spec))
        if not new:
            return
        queries = {}
        for qid, _ in new:
            row = conn.execute(
                f"SELECT {_QUERY_COLS} FROM queries q WHERE q.id = ?", (qid,)
            ).fetchone()
            if row is None:
                raise UnknownQueryError(f"no query with id {qid} in {self.path}")
            queries[qid] = row_to_query(row)
        check_gold_consistency(
            [*existing.values()]
            + [
                GoldAnswer(qid, g.answer, g.source, g.delta, now, *queries[qid][4:6])
                for qid, g in new
            ]
        )
        conn.executemany(
            "INSERT INTO gold (query_id, answer, source, delta, created) VALUES (?, ?, ?, ?, ?)",
            [(qid, g.answer, g.source, g.delta, now) for qid, g in new],
        )

    def add_gold(self, items: Iterable[tuple[int, GoldSpec | tuple[Any, ...]]]) -> int:
        """Marks existing queries as gold, in one transaction; returns how many were new.

        Args:
            items: ``(query_id, GoldSpec)`` pairs. Repeating a query's stored answer is a
                no-op (so marking an expert's labels twice is harmless).

        Raises:
            UnknownQueryError: no such query. `GoldConflictError`: an answer contradicts the
                stored one of that query, or of another query on the same pair of segments
                (in either order); it names the pair. Nothing is written in either case.
        """
        checked = [
            (check_int(f"gold[{i}].query_id", qid, 0), check_gold_spec(i, spec))
            for i, (qid, spec) in enumerate(items)
        ]
        with self._write() as conn:
            before = conn.execute("SELECT COUNT(*) FROM gold").fetchone()[0]
            self._insert_gold(conn, checked, time.time())
            return conn.execute("SELECT COUNT(*) FROM gold").fetchone()[0] - before

    def gold(self) -> list[GoldAnswer]:
        """Every gold answer with its query's segments, by query id."""
        rows = self._conn().execute(f"{_GOLD_SELECT} ORDER BY g.query_id").fetchall()
        return [row_to_gold(r) for r in rows]

    def get_query(self, query_id: int) -> Query:
        """The query with this id. Raises `UnknownQueryError` if there is none."""
        query_id = check_int("query_id", query_id, 0)
        row = (
            self._conn()
            .execute(f"SELECT {_QUERY_COLS} FROM queries q WHERE q.id = ?", (query_id,))
            .fetchone()
        )
        if row is None:
            raise UnknownQueryError(f"no query with id {query_id} in {self.path}")
        return row_to_query(row)

    def next_query(self, annotator: str, exclude: Iterable[int] = ()) -> Query | None:
        """The oldest open query ``annotator`` has not answered and ``exclude`` does not name.

        Returns None when there is none. Nothing is reserved: two annotators may get the
        same query (both labels are kept).
        """
        annotator = check_text("annotator", annotator)
        excluded = json.dumps([check_int("exclude[]", q, 0) for q in exclude])
        row = (
            self._conn()
            .execute(
                f"SELECT {_QUERY_COLS} FROM queries q WHERE q.status = 'open' AND NOT EXISTS "
                "(SELECT 1 FROM labels l WHERE l.query_id = q.id AND l.annotator = ?) AND q.id "
                "NOT IN (SELECT value FROM json_each(?)) ORDER BY q.id LIMIT 1",
                (annotator, excluded),
            )
            .fetchone()
        )
        return None if row is None else row_to_query(row)

    # ------------------------------------------------------------------ labels
    def add_label(
        self,
        query_id: int,
        label: str,
        annotator: str,
        client_label_id: str | None = None,
        *,
        source: str,
    ) -> AddedLabel:
        """Stores one label; returns only after it is committed.

        Args:
            query_id: the query answered.
            label: ``"a"``, ``"b"``, ``"equal"`` or ``"skip"``.
            annotator: who answered (a person's name, ``"teacher:oracle"``, ...).
            client_label_id: an id the client chose for this label (e.g. a UUID made when
                the button was clicked). Posting it again (a retry after a lost reply)
                stores nothing and returns the stored row with ``duplicate=True``.
            source: where the label comes from: ``"ui"``, ``"teacher:<name>"``, ...

        Raises:
            LabelStoreError: a bad label, annotator or source, or a ``client_label_id`` that
                already names a different label. `UnknownQueryError`: no such query.
                `DuplicateLabelError`: ``annotator`` already answered this query.
                In every case nothing is written.
        """
        query_id = check_int("query_id", query_id, 0)
        if not isinstance(label, str) or label not in LABELS:
            raise LabelStoreError(f"unknown label {label!r}; valid labels: {LABELS}")
        annotator, source = check_text("annotator", annotator), check_text("source", source)
        if client_label_id is not None:
            client_label_id = check_text("client_label_id", client_label_id)
        with self._write() as conn:
            if client_label_id is not None:
                row = conn.execute(
                    f"{_LABEL_SELECT} WHERE l.client_label_id = ?", (client_label_id,)
                ).fetchone()
                if row is not None:
                    old = row_to_label(row)
                    if (old.query_id, old.label, old.annotator) != (query_id, label, annotator):
                        raise LabelStoreError(
                            f"client_label_id {client_label_id!r} already names label {old.id} "
                            f"({old.label!r} on query {old.query_id} by {old.annotator!r}); "
                            f"this post is {label!r} on query {query_id} by {annotator!r}"
                        )
                    return AddedLabel(old, True)
            if conn.execute("SELECT 1 FROM queries WHERE id = ?", (query_id,)).fetchone() is None:
                raise UnknownQueryError(f"no query with id {query_id} in {self.path}")
            prior = conn.execute(
                "SELECT id, label FROM labels WHERE query_id = ? AND annotator = ?",
                (query_id, annotator),
            ).fetchone()
            if prior is not None:
                raise DuplicateLabelError(
                    f"annotator {annotator!r} already labelled query {query_id} ({prior[1]!r}, "
                    f"label id {prior[0]}); undo_last({annotator!r}) first to change it"
                )
            label_id = conn.execute(
                "INSERT INTO labels (query_id, label, annotator, created, client_label_id, "
                "source) VALUES (?, ?, ?, ?, ?, ?)",
                (query_id, label, annotator, time.time(), client_label_id, source),
            ).lastrowid
            conn.execute(_SYNC_STATUS, (query_id,))
            row = conn.execute(f"{_LABEL_SELECT} WHERE l.id = ?", (label_id,)).fetchone()
        return AddedLabel(row_to_label(row), False)

    def undo_last(self, annotator: str) -> Label | None:
        """Deletes ``annotator``'s most recent label (reopening its query); returns it.

        Returns None if the annotator has no label. Ids are never reused, so a trainer that
        already read the label sees the deletion only in `counts` or a full re-read.
        """
        annotator = check_text("annotator", annotator)
        with self._write() as conn:
            row = conn.execute(
                f"{_LABEL_SELECT} WHERE l.annotator = ? ORDER BY l.id DESC LIMIT 1", (annotator,)
            ).fetchone()
            if row is None:
                return None
            undone = row_to_label(row)
            conn.execute("DELETE FROM labels WHERE id = ?", (undone.id,))
            conn.execute(_SYNC_STATUS, (undone.query_id,))
        return undone

    def labels(self, since_id: int = 0, limit: int | None = None) -> list[Label]:
        """Labels with ``id > since_id``, in commit order (ids grow in commit order).

        A trainer polls ``labels(since_id=last[-1].id)`` for new ones.
        """
        since_id = check_int("since_id", since_id, 0)
        limit = -1 if limit is None else check_int("limit", limit, 0)
        rows = (
            self._conn()
            .execute(f"{_LABEL_SELECT} WHERE l.id > ? ORDER BY l.id LIMIT ?", (since_id, limit))
            .fetchall()
        )
        return [row_to_label(r) for r in rows]

    def counts(self) -> Counts:
        """Queries (total, queued = open, labelled = done) and labels by value, one snapshot."""
        with self._read() as conn:
            by_status = dict(conn.execute("SELECT status, COUNT(*) FROM queries GROUP BY status"))
            by_label = dict(conn.execute("SELECT label, COUNT(*) FROM labels GROUP BY label"))
        return Counts(
            queries=sum(by_status.values()),
            queued=by_status.get("open", 0),
            labelled=by_status.get("done", 0),
            labels=sum(by_label.values()),
            by_label={name: by_label.get(name, 0) for name in LABELS},
        )

    def export(self, path_or_file: str | os.PathLike[str] | IO[str], format: str = "csv") -> int:
        """Writes every label (with its segments) as CSV or JSON Lines; returns the row count.

        Columns / keys: `EXPORT_FIELDS`, segments flattened to ``a_episode``, ``a_start``, ...
        In CSV an absent ``client_label_id`` is an empty cell; in JSONL it is null. A path is
        written atomically (temp file, fsync, rename); a text file object is written as is.

        Raises:
            LabelStoreError: on an unknown format.
        """
        if format not in EXPORT_FORMATS:
            raise LabelStoreError(f"unknown export format {format!r}; valid: {EXPORT_FORMATS}")
        rows = self.labels()
        if isinstance(path_or_file, str | os.PathLike):
            with (
                atomic_path(path_or_file) as tmp,
                open(tmp, "x", newline="", encoding="utf-8") as f,
            ):
                write_labels(f, rows, format)
                f.flush()
        else:
            write_labels(path_or_file, rows, format)
        return len(rows)
