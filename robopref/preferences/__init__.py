"""Preference queries and labels: selection, scripted teachers, and the SQLite label store.

The PEBBLE-style loop (DESIGN.md contract 5) runs through this package:

1. a selector (`select_queries`: ``uniform``, ``disagreement``, ``entropy``) picks pairs of
   segments from a `SegmentPool`, scored by the reward model;
2. `LabelStore.add_queries` queues them;
3. a scripted teacher (`make_teacher`, `answer_queries`) or a person in the UI answers them
   through `LabelStore.add_label`;
4. the trainer reads `LabelStore.labels` and fits the reward model.

Labels become training data as a `PreferenceBatch` (`batch_from_labels`,
`batch_from_segments`, `labels_to_targets`), the type every preference model takes. Importing
this package does not import torch, and nothing here imports `robopref.rewards`: the reward
models depend on this package, not the other way round (DESIGN.md).
"""

from robopref.preferences.batches import (
    PreferenceBatch,
    batch_from_labels,
    batch_from_segments,
    labels_to_targets,
)
from robopref.preferences.records import (
    EXPORT_FIELDS,
    EXPORT_FORMATS,
    GOLD_ANSWERS,
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
    SegmentRef,
    UnknownQueryError,
    read_labels,
)
from robopref.preferences.selectors import (
    PreferenceScorer,
    SegmentPool,
    Selector,
    disagreement_score,
    draw_pairs,
    entropy_score,
    get_selector,
    register_selector,
    select_queries,
    selector_names,
)
from robopref.preferences.store import SCHEMA_VERSION, LabelStore
from robopref.preferences.teachers import (
    SIGNALS,
    ScriptedTeacher,
    answer_queries,
    make_teacher,
    register_teacher,
    segment_margin,
    segment_rewards,
    teacher_names,
)

__all__ = [
    "PreferenceBatch",
    "batch_from_labels",
    "batch_from_segments",
    "labels_to_targets",
    "EXPORT_FIELDS",
    "EXPORT_FORMATS",
    "LABELS",
    "SCHEMA_VERSION",
    "SIGNALS",
    "AddedLabel",
    "Counts",
    "DuplicateLabelError",
    "GOLD_ANSWERS",
    "GoldAnswer",
    "GoldConflictError",
    "GoldSpec",
    "Label",
    "LabelStore",
    "LabelStoreError",
    "PreferenceScorer",
    "Query",
    "QuerySpec",
    "SchemaVersionError",
    "ScriptedTeacher",
    "SegmentPool",
    "SegmentRef",
    "Selector",
    "UnknownQueryError",
    "answer_queries",
    "disagreement_score",
    "draw_pairs",
    "entropy_score",
    "get_selector",
    "make_teacher",
    "read_labels",
    "register_selector",
    "register_teacher",
    "segment_margin",
    "segment_rewards",
    "select_queries",
    "selector_names",
    "teacher_names",
]
