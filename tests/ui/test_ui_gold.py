"""The query UI and gold pairs (issue 18): never revealed; figures; /stats access; names."""

from __future__ import annotations

import json

import pytest

from robopref.preferences import GoldSpec, LabelStore


@pytest.fixture
def gold_run(run):
    """The conftest run plus two gold queries among its five open ones."""
    with LabelStore(run.labels) as store:
        queries = [store.next_query("probe", exclude=[]) for _ in range(1)]
        first = queries[0].id
        store.add_gold([(first, GoldSpec("a", "progress", 0.7)), (first + 2, GoldSpec("b", "x"))])
    return run, {first, first + 2}


def test_gold_queries_are_never_revealed_to_the_page(client, gold_run):
    _, gold_ids = gold_run
    seen = {}
    while (r := client.get("/api/next", params={"annotator": "ann"})).status_code == 200:
        body = r.json()
        seen[body["query"]["id"]] = body
        client.post("/api/label", json={"query_id": body["query"]["id"], "label": "a",
                                        "annotator": "ann"})  # fmt: skip
    assert gold_ids <= set(seen)
    gold_keys = {tuple(sorted(seen[q]["query"])) for q in gold_ids}
    plain_keys = {tuple(sorted(seen[q]["query"])) for q in set(seen) - gold_ids}
    assert gold_keys == plain_keys  # the same fields, gold or not
    for body in seen.values():
        text = json.dumps(body).lower()
        assert "gold" not in text and "progress" not in text and "selector" not in text
    for q in gold_ids:
        assert "gold" not in json.dumps(client.get(f"/api/query/{q}").json()).lower()


def test_me_and_stats_show_counts_and_the_queue(client, gold_run):
    q = client.get("/api/next", params={"annotator": "ann"}).json()["query"]["id"]
    client.post("/api/label", json={"query_id": q, "label": "a", "annotator": "ann"})
    me = client.get("/api/me", params={"annotator": "ann"}).json()
    assert me == {"annotator": "ann", "labels": 1, "gold": 0, "agreement": None}
    for path in ("/api/stats", "/stats"):
        stats = client.get(path).json()
        assert stats["annotators"]["ann"]["labels"] == 1
        assert stats["queue"]["queued"] == 4 and stats["queue"]["labels"] == 1


@pytest.mark.parametrize("name", ["", "x" * 257, "bad\x1bname", "new\nline", " padded"])
def test_bad_annotator_names_are_refused(client, name):
    assert client.get("/api/me", params={"annotator": name}).status_code == 400
    assert client.get("/api/next", params={"annotator": name}).status_code == 400
    r = client.post("/api/label", json={"query_id": 1, "label": "a", "annotator": name})
    assert r.status_code == 400 and "annotator" in r.json()["error"]
    assert client.post("/api/undo", json={"annotator": name}).status_code == 400


def test_stats_follow_the_same_access_rules(run):
    from fastapi.testclient import TestClient

    from robopref.ui.app import create_app
    from robopref.ui.config import UIConfig

    token = "t" * 24
    app = create_app(UIConfig(run.root, host="0.0.0.0", token=token))
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        for path in ("/stats", "/api/stats", "/api/me?annotator=ann"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert (
                c.get(
                    path, headers={"Host": "evil.example", "Authorization": f"Bearer {token}"}
                ).status_code
                == 403
            )
