"""Labelling recorded (real-robot) episodes without a trainer, and the CLI commands."""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from ui_helpers import (
    REACH_DESCRIPTION,
    REAL_CAMERAS,
    make_run,
    pairs,
    record_real_episode,
    synthetic_episode,
)

from robopref.cli import main as cli_main
from robopref.commands import ui as ui_commands
from robopref.data import EpisodeStore
from robopref.preferences import LabelStore, read_labels
from robopref.runs import RunPaths
from robopref.ui import add_uniform_queries, import_episodes
from robopref.ui.app import create_app
from robopref.ui.config import UIConfig


@pytest.fixture
def recordings(tmp_path):
    store = EpisodeStore(tmp_path / "recorded")
    return store, [store.save(record_real_episode(s)).name for s in range(3)]


def test_recorded_episodes_are_imported_queued_and_served(tmp_path, recordings):
    source, _ = recordings
    run = RunPaths.of(tmp_path / "run")
    run.root.mkdir()
    ids = import_episodes(run, source.root)
    assert ids == source.ids() and EpisodeStore(run.episodes).ids() == ids
    original, copy = source.load(ids[0]), EpisodeStore(run.episodes).load(ids[0])
    assert np.array_equal(original.frames["wrist"], copy.frames["wrist"])
    assert copy.metadata["source"] == "real"

    qids = add_uniform_queries(run, 10, segment_length=12, seed=3)
    assert qids == list(range(1, 11))
    with LabelStore(run.labels) as store:
        queries = [store.get_query(q) for q in qids]
    assert {q.selector for q in queries} == {"uniform"}
    assert len({(q.seg_a, q.seg_b) for q in queries}) == 10
    for q in queries:
        for seg in (q.seg_a, q.seg_b):
            assert seg.episode_id in ids and seg.length == 12 and seg.start + 12 <= 30

    # No config.json: the page shows the episodes' task and the description they recorded;
    # both views of both segments play.
    with TestClient(create_app(UIConfig(run.root)), base_url="http://localhost") as c:
        assert c.get("/api/info").json()["description"] == ""  # the run records none
        body = c.get("/api/next", params={"annotator": "operator"}).json()
        assert body["task"] == "panda-reach" and body["description"] == REACH_DESCRIPTION
        assert [v["camera"] for v in body["a"]["cameras"]] == list(REAL_CAMERAS)
        assert c.get(body["b"]["cameras"][1]["url"]).status_code == 200
        r = c.post("/api/label", json={"query_id": 1, "label": "b", "annotator": "operator"})
        assert r.status_code == 200


def test_default_segment_length_is_the_shortest_episode_up_to_50(tmp_path):
    run = make_run(tmp_path / "run", [synthetic_episode("a", 12), synthetic_episode("b", 9)])
    (qid,) = add_uniform_queries(run, 1)
    with LabelStore(run.labels) as store:
        assert store.get_query(qid).seg_a.length == 9


def test_import_refuses_missing_empty_and_corrupt_folders(tmp_path, recordings):
    run = RunPaths.of(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="no episodes directory"):
        import_episodes(run, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no episode files"):
        import_episodes(run, tmp_path / "empty")
    source, names = recordings
    path = source.root / names[1]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=names[1]):
        import_episodes(run, source.root)
    short = make_run(tmp_path / "short", [synthetic_episode("a", 5)])
    with pytest.raises(ValueError, match="at least 2 windows"):
        add_uniform_queries(short, 3, segment_length=5)


def test_prepare_run_from_recordings_starts_a_run(tmp_path, recordings):
    source, _ = recordings
    summary = ui_commands.prepare_run(
        str(tmp_path / "new-run"), str(source.root), pairs=4, segment_length=10, k=2
    )
    assert len(summary["imported"]) == 3 and summary["queries_added"] == 4
    with LabelStore(tmp_path / "new-run" / "labels.sqlite") as store:
        assert store.counts().queued == 4 and store.get_query(1).k == 2


def test_label_command_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["label", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("robopref label: error: no run directory") and "\n" not in err
    assert cli_main(["label", str(tmp_path), "--port", "70000"]) == 2
    assert "port must be in 0..65535" in capsys.readouterr().err
    assert cli_main(["label", str(tmp_path), "--host", "0.0.0.0", "--token", "x"]) == 2
    assert "token must be 16-256 characters" in capsys.readouterr().err
    assert cli_main(["label", str(tmp_path), "--pairs", "-1"]) == 2
    assert "--pairs must be >= 0" in capsys.readouterr().err


def test_add_commands_registers_label_and_labels_export():
    parser = argparse.ArgumentParser()
    ui_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["label", "runs/x"])
    assert (args.host, args.port, args.func) == ("127.0.0.1", 8765, ui_commands.cmd_label)
    args = parser.parse_args(["labels", "export", "runs/x", "--format", "jsonl"])
    assert args.func == ui_commands.cmd_labels_export and args.format == "jsonl"
    with pytest.raises(SystemExit):
        parser.parse_args(["labels", "export", "runs/x", "--format", "xml"])


def test_labels_export(tmp_path, capsys, monkeypatch):
    run = make_run(tmp_path / "run", [synthetic_episode("ep0"), synthetic_episode("ep1")], pairs(3))
    with LabelStore(run.labels) as store:
        store.add_label(1, "a", "alice", "c1", source="ui")
        store.add_label(2, "equal", "bob", source="ui")
        expected = store.labels()
    out = tmp_path / "labels.csv"
    assert cli_main(["labels", "export", str(run.root), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "format": "csv", "rows": 2}
    with open(out, newline="") as f:
        assert read_labels(f, "csv") == expected
    assert cli_main(["labels", "export", str(run.root), "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    assert read_labels(io.StringIO(captured.out), "jsonl") == expected
    assert json.loads(captured.err) == {"format": "jsonl", "rows": 2}
    assert cli_main(["labels", "export", str(tmp_path / "nope")]) == 2
    assert "no label store at" in capsys.readouterr().err
