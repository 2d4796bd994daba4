"""Rows, errors and input checks of the label store (`robopref.preferences.store`).

Everything here is plain Python: the row types are NamedTuples (SB3-style typed records),
validation raises `LabelStoreError` (a ``ValueError``) naming the bad field and value, and the
export writers turn `Label` rows into CSV or JSON Lines.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import numbers
import unicodedata
from typing import IO, Any, NamedTuple

from robopref.data.episode import _NAME_RE

#: The label vocabulary of contract 5 (the store, the teachers and the batches share it).
LABELS = ("a", "b", "equal", "skip")
EXPORT_FORMATS = ("csv", "jsonl")
#: Columns (CSV) and keys (JSONL) of `LabelStore.export`: `Label` with flattened segments.
EXPORT_FIELDS = (
    "id", "query_id", "label", "annotator", "created", "client_label_id", "source",
    "a_episode", "a_start", "a_length", "b_episode", "b_start", "b_length",
)  # fmt: skip
_INT_FIELDS = ("id", "query_id", "a_start", "a_length", "b_start", "b_length")
#: Largest int SQLite stores (a signed 64-bit INTEGER); ids, starts, lengths and k are checked.
MAX_INT = 2**63 - 1
#: Longest annotator, source, selector or client label id, in characters.
MAX_TEXT = 256
# Unicode categories refused in names: controls (Cc: NUL, ESC, CR, LF, DEL, C1), surrogates
# (Cs: a lone one is not text), line and paragraph separators (Zl, Zp).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class LabelStoreError(ValueError):
    """Bad input to the label store, or a file that is not a usable label store."""


class SchemaVersionError(LabelStoreError):
    """The database was written by a robopref with another label-store schema version."""


class UnknownQueryError(LabelStoreError):
    """No query has this id."""


class DuplicateLabelError(LabelStoreError):
    """This annotator already labelled this query (see `LabelStore.undo_last`)."""


class GoldConflictError(LabelStoreError):
    """Two gold answers on the same pair of segments contradict each other."""


#: What a gold answer may be: a decisive answer, or "equal" (an expert's); never "skip".
GOLD_ANSWERS = ("a", "b", "equal")


class SegmentRef(NamedTuple):
    """Steps ``start .. start + length - 1`` of episode ``episode_id`` (`Episode.segment`)."""

    episode_id: str
    start: int
    length: int


class QuerySpec(NamedTuple):
    """A query to add: what `robopref.preferences.selectors` return."""

    seg_a: SegmentRef
    seg_b: SegmentRef
    selector: str
    score: float | None = None
    k: int = 1


class Query(NamedTuple):
    """A stored query; ``n_labels`` counts its non-skip labels (it is done at ``k``)."""

    id: int
    created: float
    selector: str
    score: float | None
    seg_a: SegmentRef
    seg_b: SegmentRef
    k: int
    status: str
    n_labels: int


class Label(NamedTuple):
    """A stored label with its query's segments (all a trainer needs to build a batch)."""

    id: int
    query_id: int
    label: str
    annotator: str
    created: float
    client_label_id: str | None
    source: str
    seg_a: SegmentRef
    seg_b: SegmentRef


class GoldSpec(NamedTuple):
    """The known answer of a query to add (`LabelStore.add_queries` ``gold=``).

    ``delta`` is the privileged return difference ``R_A - R_B`` by the teacher signal (sim
    gold); None for an expert's answer.
    """

    answer: str
    source: str
    delta: float | None = None


class GoldAnswer(NamedTuple):
    """A stored gold answer with its query's segments (`LabelStore.gold`)."""

    query_id: int
    answer: str
    source: str
    delta: float | None
    created: float
    seg_a: SegmentRef
    seg_b: SegmentRef


class AddedLabel(NamedTuple):
    """What `LabelStore.add_label` acknowledges: the stored row, and whether it was a retry."""

    label: Label
    duplicate: bool


@dataclasses.dataclass(frozen=True)
class Counts:
    """Totals: ``queued`` open queries, ``labelled`` done ones, labels by value."""

    queries: int
    queued: int
    labelled: int
    labels: int
    by_label: dict[str, int]


def _shown(v: Any, limit: int = 80) -> str:
    """``repr(v)`` cut to ``limit`` characters: an error message quotes, it does not echo."""
    text = repr(v)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def check_int(name: str, v: Any, low: int) -> int:
    """``v`` as an int in ``low .. MAX_INT`` (NumPy ints too; bools refused).

    The upper bound is SQLite's: a larger int cannot be bound to a statement at all
    (``OverflowError``), so it is refused here with the field's name.
    """
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < low:
        raise LabelStoreError(f"{name} must be an int >= {low}, got {_shown(v)}")
    if int(v) > MAX_INT:
        raise LabelStoreError(f"{name} must be an int <= {MAX_INT} (2**63 - 1), got {_shown(v)}")
    return int(v)


def check_text(name: str, v: Any) -> str:
    """``v`` as a non-empty name (annotator, source, selector, client label id).

    Refused: non-str, empty, longer than `MAX_TEXT`, surrounding whitespace (it would make
    "alice" and "alice " two annotators), control characters (NUL, escape, newlines, ...:
    they corrupt logs, CSV exports and the page), and lone surrogates (not text: SQLite and
    every encoder refuse them).
    """
    if not isinstance(v, str) or not v.strip() or v != v.strip() or len(v) > MAX_TEXT:
        raise LabelStoreError(
            f"{name} must be a non-empty str of at most {MAX_TEXT} characters without "
            f"surrounding whitespace, got {_shown(v)}"
        )
    bad = next((c for c in v if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        kind = "a lone surrogate" if unicodedata.category(bad) == "Cs" else "a control character"
        raise LabelStoreError(
            f"{name} must be printable text; it contains {kind} ({bad!r}): {_shown(v)}"
        )
    return v


def check_segment(name: str, seg: Any) -> SegmentRef:
    """``seg`` (a 3-sequence) as a `SegmentRef` with a valid episode id and range."""
    if not isinstance(seg, tuple | list) or len(seg) != 3:
        raise LabelStoreError(f"{name} must be (episode_id, start, length), got {seg!r}")
    episode_id, start, length = seg
    if not isinstance(episode_id, str) or not _NAME_RE.fullmatch(episode_id):
        raise LabelStoreError(f"{name}: {episode_id!r} is not a valid episode id")
    return SegmentRef(
        episode_id, check_int(f"{name}.start", start, 0), check_int(f"{name}.length", length, 1)
    )


def check_query_spec(i: int, spec: Any) -> tuple[Any, ...]:
    """Query ``i`` of a batch as the ``queries`` columns after ``created``, checked."""
    if not isinstance(spec, tuple | list) or not 3 <= len(spec) <= 5:
        raise LabelStoreError(f"queries[{i}]: expected (seg_a, seg_b, selector, score, k)")
    spec = QuerySpec(*spec)
    a, b = (
        check_segment(f"queries[{i}].seg_a", spec.seg_a),
        check_segment(f"queries[{i}].seg_b", spec.seg_b),
    )
    score = spec.score
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise LabelStoreError(f"queries[{i}].score must be a number or None, got {score!r}")
        if not math.isfinite(score):
            raise LabelStoreError(f"queries[{i}].score must be finite, got {score!r}")
        score = float(score)
    selector, k = (
        check_text(f"queries[{i}].selector", spec.selector),
        check_int(f"queries[{i}].k", spec.k, 1),
    )
    return (selector, score, *a, *b, k)


def row_to_query(row: tuple[Any, ...]) -> Query:
    """A ``SELECT`` row (segments flattened) to a `Query`."""
    return Query._make((*row[:4], SegmentRef(*row[4:7]), SegmentRef(*row[7:10]), *row[10:]))


def row_to_gold(row: tuple[Any, ...]) -> GoldAnswer:
    """A ``SELECT`` row of the gold table joined with its query (segments flattened)."""
    return GoldAnswer._make((*row[:5], SegmentRef(*row[5:8]), SegmentRef(*row[8:11])))


def check_gold_spec(i: int, spec: Any) -> GoldSpec:
    """Gold answer ``i`` of a batch as a checked `GoldSpec`."""
    if not isinstance(spec, tuple | list) or not 2 <= len(spec) <= 3:
        raise LabelStoreError(f"gold[{i}]: expected (answer, source[, delta]), got {_shown(spec)}")
    spec = GoldSpec(*spec)
    if not isinstance(spec.answer, str) or spec.answer not in GOLD_ANSWERS:
        raise LabelStoreError(
            f"gold[{i}].answer: {_shown(spec.answer)} is not a gold answer; valid: {GOLD_ANSWERS}"
        )
    delta = spec.delta
    if delta is not None:
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise LabelStoreError(f"gold[{i}].delta must be a number or None, got {delta!r}")
        if not math.isfinite(delta):
            raise LabelStoreError(f"gold[{i}].delta must be finite, got {delta!r}")
        delta = float(delta)
    return GoldSpec(spec.answer, check_text(f"gold[{i}].source", spec.source), delta)


_FLIP = {"a": "b", "b": "a", "equal": "equal"}


def check_gold_consistency(gold: list[GoldAnswer]) -> None:
    """Raises `GoldConflictError` if two gold answers on one pair of segments disagree.

    A pair is the same whichever segment is shown as A: query 3 = (X, Y) answered "a" and
    query 7 = (Y, X) answered "a" contradict each other.
    """
    seen: dict[tuple[SegmentRef, SegmentRef], GoldAnswer] = {}
    for g in gold:
        a, b = SegmentRef(*g.seg_a), SegmentRef(*g.seg_b)
        key, answer = ((a, b), g.answer) if a <= b else ((b, a), _FLIP[g.answer])
        first = seen.setdefault(key, g._replace(answer=answer))
        if first.answer != answer:
            raise GoldConflictError(
                f"contradicting gold answers on the pair {tuple(key[0])} vs {tuple(key[1])}: "
                f"query {first.query_id} ({first.source}) and query {g.query_id} ({g.source}) "
                "disagree about which is better"
            )


def row_to_label(row: tuple[Any, ...]) -> Label:
    """A ``SELECT`` row (segments flattened) to a `Label`."""
    return Label._make((*row[:7], SegmentRef(*row[7:10]), SegmentRef(*row[10:13])))


def flat_label(label: Label) -> dict[str, Any]:
    """``label`` as a dict keyed by `EXPORT_FIELDS` (segments flattened)."""
    out = label._asdict()
    for side in ("a", "b"):
        seg = out.pop(f"seg_{side}")
        out.update({f"{side}_episode": seg[0], f"{side}_start": seg[1], f"{side}_length": seg[2]})
    return {k: out[k] for k in EXPORT_FIELDS}


def write_labels(f: IO[str], rows: list[Label], format: str) -> None:
    """Writes ``rows`` to the text file ``f`` as ``"csv"`` or ``"jsonl"``."""
    if format == "jsonl":
        for row in rows:
            f.write(json.dumps(flat_label(row)) + "\n")
        return
    writer = csv.DictWriter(f, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(flat_label(row))


def read_labels(f: IO[str], format: str) -> list[Label]:
    """Parses what `LabelStore.export` wrote (an open text file) back into `Label` rows.

    Raises:
        LabelStoreError: on an unknown format, or columns other than `EXPORT_FIELDS`.
    """
    if format not in EXPORT_FORMATS:
        raise LabelStoreError(f"unknown export format {format!r}; valid: {EXPORT_FORMATS}")
    if format == "jsonl":
        records = [json.loads(line) for line in f if line.strip()]
    else:
        records = list(csv.DictReader(f))
    rows = []
    for i, rec in enumerate(records):
        if tuple(rec) != EXPORT_FIELDS:
            raise LabelStoreError(f"record {i}: fields {list(rec)}, expected {EXPORT_FIELDS}")
        num = {k: int(rec[k]) for k in EXPORT_FIELDS if k in _INT_FIELDS}
        seg_a = SegmentRef(rec["a_episode"], num["a_start"], num["a_length"])
        seg_b = SegmentRef(rec["b_episode"], num["b_start"], num["b_length"])
        client_id = rec["client_label_id"] or None  # CSV writes None as ""
        rows.append(
            Label(num["id"], num["query_id"], rec["label"], rec["annotator"],
                  float(rec["created"]), client_id, rec["source"], seg_a, seg_b)
        )  # fmt: skip
    return rows
