"""The run records its task's description (task.json); the UI shows it without the simulator."""

from __future__ import annotations

import json

import pytest

from robopref.runs import RunDirError, RunPaths


def test_task_json_round_trips_and_a_missing_one_reads_empty(tmp_path):
    run = RunPaths.of(tmp_path / "run")
    assert run.task_description() == ""  # a run from before task.json, or imported episodes
    run.write_task("panda-lift", "Grasp the red cube and lift it off the table.")
    assert json.loads(run.task_file.read_text()) == {
        "task": "panda-lift",
        "description": "Grasp the red cube and lift it off the table.",
    }
    assert run.task_description() == "Grasp the red cube and lift it off the table."
    assert not list(run.root.glob("*.tmp*"))  # written atomically, no temp file left


@pytest.mark.parametrize(
    "text, match",
    [("{not json", "cannot read"), ('["a list"]', "string description"),
     ('{"description": 3}', "string description")],
)  # fmt: skip
def test_a_broken_task_json_is_an_error_naming_the_file(tmp_path, text, match):
    run = RunPaths.of(tmp_path)
    run.task_file.write_text(text)
    with pytest.raises(RunDirError, match=match) as e:
        run.task_description()
    assert "task.json" in str(e.value)
    assert run.task_file.read_text() == text  # nothing rewritten


def test_the_page_shows_the_runs_description_over_the_episodes(tmp_path):
    from fastapi.testclient import TestClient
    from ui_helpers import make_run, pairs, synthetic_episode

    from robopref.ui.app import create_app
    from robopref.ui.config import UIConfig

    episodes = [synthetic_episode("ep0", seed=0), synthetic_episode("ep1", seed=1)]
    run = make_run(tmp_path / "run", episodes, pairs(2))
    run.write_task("panda-reach", "Touch the sphere, gently.")  # what the run says wins
    with TestClient(create_app(UIConfig(run.root)), base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/info").json()["description"] == "Touch the sphere, gently."
        body = c.get("/api/next", params={"annotator": "alice"}).json()
        assert body["description"] == "Touch the sphere, gently."
