"""The query app's HTTP API (FastAPI TestClient): every endpoint, bad input, clip caching."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from ui_helpers import make_run, pairs, synthetic_episode

from robopref.data.video import probe_clip
from robopref.preferences import LabelStore
from robopref.ui.app import create_app
from robopref.ui.config import UIConfig

JSON = {"Content-Type": "application/json"}


def stored(run) -> list[tuple]:
    with LabelStore(run.labels) as store:
        return [(r.query_id, r.label, r.annotator, r.source) for r in store.labels()]


def wait_prefetch(client: TestClient, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = client.get("/api/health").json()
        if health["prefetching"] == 0 or time.monotonic() > deadline:
            return health
        time.sleep(0.05)


def label(client, query_id, value="a", annotator="alice", client_label_id=None):
    body = {"query_id": query_id, "label": value, "annotator": annotator}
    if client_label_id is not None:
        body["client_label_id"] = client_label_id
    return client.post("/api/label", json=body)


def test_page_shows_the_keyboard_map_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for key in ("←", "→", "↓", "=", "space", "<kbd>s</kbd>", "<kbd>u</kbd>", "Undo"):
        assert key in page.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "localStorage" in js.text  # the annotator's name is remembered
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/index.py").status_code == 404


def test_info_names_the_task_and_its_description(client):
    info = client.get("/api/info").json()
    assert info["task"] == "panda-reach"
    assert info["description"] == "Move the gripper to the green sphere."
    assert info["labels"] == ["a", "b", "equal", "skip"]
    assert info["keys"]["a"] == ["ArrowLeft"] and info["keys"]["skip"] == [" ", "s"]


def test_next_serves_the_oldest_query_with_every_camera_clip(client, run):
    r = client.get("/api/next", params={"annotator": "alice"})
    assert r.status_code == 200
    body = r.json()
    assert body["query"]["id"] == 1 and body["query"]["status"] == "open"
    assert body["description"] == "Move the gripper to the green sphere."
    assert body["counts"]["queued"] == 5
    for side, (episode, start) in (("a", ("ep0", 0)), ("b", ("ep1", 1))):
        seg = body[side]
        assert (seg["episode_id"], seg["start"], seg["length"], seg["error"]) == (
            episode, start, 6, None
        )  # fmt: skip
        assert [c["camera"] for c in seg["cameras"]] == ["front", "side", "wrist"]
        for cam in seg["cameras"]:
            name = f"{episode}~{start}-6~{cam['camera']}.h264.mp4"
            assert cam["url"] == f"/media/{name}"
            assert (run.clips / name).is_file()  # cached in the run's clips/
            media = client.get(cam["url"])
            assert media.status_code == 200 and media.headers["content-type"] == "video/mp4"
            info = probe_clip(run.clips / name)
            # length + 1 observations, upscaled to the UI's min size (32 px x 6 = 192 px)
            assert (info["codec"], info["frames"], info["width"]) == ("h264", 7, 192)


def test_media_supports_range_requests_for_seeking(client):
    url = client.get("/api/next", params={"annotator": "alice"}).json()["a"]["cameras"][0]["url"]
    whole = client.get(url).content
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole[:100]
    assert client.head(url).status_code == 200


def test_clips_are_encoded_once_and_the_next_query_is_prefetched(client, run):
    client.get("/api/next", params={"annotator": "alice"})
    health = wait_prefetch(client)
    # Query 1 and, in the background, query 2: 4 segments x 3 cameras.
    assert health == {"ok": True, "prefetching": 0, "clips_encoded": 12}
    r = client.get("/api/next", params={"annotator": "alice", "exclude": "1"})
    assert r.json()["query"]["id"] == 2
    wait_prefetch(client)
    assert client.get("/api/health").json()["clips_encoded"] == 18  # only query 3 is new
    # A restarted server finds every clip in the cache (through the manifests).
    with TestClient(create_app(UIConfig(run.root)), base_url="http://localhost") as again:
        again.get("/api/query/1")
        again.get("/api/query/2")
        assert again.get("/api/health").json()["clips_encoded"] == 0


def test_a_deleted_clip_is_encoded_again(client, run):
    seg = client.get("/api/query/1").json()["a"]
    name = seg["cameras"][1]["url"].rsplit("/", 1)[1]
    (run.clips / name).unlink()
    with TestClient(create_app(UIConfig(run.root)), base_url="http://localhost") as again:
        assert again.get("/api/query/1").status_code == 200
        assert (run.clips / name).is_file()


def test_vp9_clips_are_webm(run):
    config = UIConfig(run.root, codec="vp9")
    with TestClient(create_app(config), base_url="http://localhost") as c:
        cam = c.get("/api/query/1").json()["b"]["cameras"][0]
        assert cam["url"].endswith("~front.vp9.webm")
        media = c.get(cam["url"])
        assert media.status_code == 200 and media.headers["content-type"] == "video/webm"
    assert probe_clip(run.clips / "ep1~1-6~front.vp9.webm")["codec"] == "vp9"


def test_next_is_204_when_nothing_is_queued_and_sees_new_queries_live(client, run):
    for qid in range(1, 6):
        assert label(client, qid, "skip").status_code == 200
    r = client.get("/api/next", params={"annotator": "alice"})
    assert r.status_code == 204 and r.content == b""
    with LabelStore(run.labels) as store:  # the trainer asks a new query
        (new,) = store.add_queries(pairs(1))
    r = client.get("/api/next", params={"annotator": "alice"})
    assert r.status_code == 200 and r.json()["query"]["id"] == new


def test_next_excludes_the_given_queries(client):
    r = client.get("/api/next", params={"annotator": "alice", "exclude": "1,2"})
    assert r.json()["query"]["id"] == 3


def test_label_is_stored_and_counted(client, run):
    r = label(client, 1, "b", client_label_id="c-1")
    assert r.status_code == 200
    body = r.json()
    assert body["duplicate"] is False
    assert body["label"]["query_id"] == 1 and body["label"]["client_label_id"] == "c-1"
    assert body["label"]["seg_a"] == ["ep0", 0, 6]
    assert body["counts"]["labelled"] == 1 and body["counts"]["queued"] == 4
    assert stored(run) == [(1, "b", "alice", "ui")]
    assert client.get("/api/counts").json()["by_label"]["b"] == 1


def test_the_same_client_label_id_is_stored_once(client, run):
    first = label(client, 2, "equal", client_label_id="once")
    again = label(client, 2, "equal", client_label_id="once")
    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["label"]["id"] == first.json()["label"]["id"]
    # The same id naming another answer is an error, and changes nothing.
    other = label(client, 2, "a", client_label_id="once")
    assert other.status_code == 400 and "already names label" in other.json()["error"]
    assert stored(run) == [(2, "equal", "alice", "ui")]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"query_id": 99, "label": "a", "annotator": "alice"}, 404, "no query with id 99"),
        ({"query_id": 1, "label": "left", "annotator": "alice"}, 400, "unknown label 'left'"),
        ({"query_id": 1, "label": "A", "annotator": "alice"}, 400, "unknown label 'A'"),
        ({"query_id": 1, "label": "a", "annotator": ""}, 400, "annotator must be"),
        ({"query_id": 1, "label": "a", "annotator": " alice"}, 400, "annotator must be"),
        ({"query_id": -1, "label": "a", "annotator": "alice"}, 400, "query_id must be"),
        ({"query_id": "1", "label": "a", "annotator": "alice"}, 422, "query_id"),
        ({"query_id": 1.0, "label": "a", "annotator": "alice"}, 422, "query_id"),
        ({"query_id": 1, "label": None, "annotator": "alice"}, 422, "label"),
        ({"query_id": 1, "annotator": "alice"}, 422, "label: Field required"),
        ({"query_id": 1, "label": "a", "annotator": "alice", "x": 1}, 422, "x: Extra inputs"),
        ([1, "a", "alice"], 422, "body"),
        # Issue 15: ids past SQLite's 64-bit INTEGER and lone surrogates were a 500.
        (
            {"query_id": 2**63, "label": "a", "annotator": "alice"},
            400,
            "query_id must be an int <=",
        ),
        (
            {"query_id": 2**70, "label": "a", "annotator": "alice"},
            400,
            "query_id must be an int <=",
        ),
        (b'{"query_id": 1, "label": "a", "annotator": "\\ud800"}', 400, "lone surrogate"),
        (b'{"query_id": 1, "label": "a", "annotator": "al\\udfffce"}', 400, "lone surrogate"),
        (
            b'{"query_id": 1, "label": "a", "annotator": "alice", "client_label_id": "\\ud800"}',
            400,
            "client_label_id must be printable text",
        ),
        ({"query_id": 1, "label": "a", "annotator": "al\x00ice"}, 400, "control character"),
        ({"query_id": 1, "label": "a", "annotator": "al\nice"}, 400, "control character"),
        ({"query_id": 1, "label": "a", "annotator": "al\x1b[31mice"}, 400, "control character"),
        ({"query_id": 1, "label": "a", "annotator": "al\x7fice"}, 400, "control character"),
        ({"query_id": 1, "label": "a", "annotator": "x" * 257}, 400, "at most 256 characters"),
        (
            {"query_id": 1, "label": "a", "annotator": "alice", "client_label_id": "c\x00"},
            400,
            "control character",
        ),
    ],
)
def test_bad_labels_are_refused_with_a_message_and_write_nothing(
    client, run, body, status, message
):
    if isinstance(body, bytes):  # JSON text a client library would not make (lone surrogates)
        r = client.post("/api/label", content=body, headers=JSON)
    else:
        r = client.post("/api/label", json=body)
    assert r.status_code == status
    assert message in r.json()["error"]
    assert stored(run) == []


def test_a_second_answer_by_the_same_annotator_is_a_409(client, run):
    assert label(client, 1, "a").status_code == 200
    r = label(client, 1, "b")
    assert r.status_code == 409 and "already labelled query 1" in r.json()["error"]
    assert stored(run) == [(1, "a", "alice", "ui")]


def test_a_body_that_is_not_json_is_refused(client, run):
    r = client.post("/api/label", content=b"query_id=1&label=a", headers=JSON)
    assert r.status_code == 422
    assert stored(run) == []


def test_undo_removes_the_last_label_and_reopens_its_query(client, run):
    label(client, 1, "a")
    label(client, 2, "b")
    label(client, 3, "a", annotator="bob")
    r = client.post("/api/undo", json={"annotator": "alice"})
    assert r.status_code == 200
    assert r.json()["undone"]["query_id"] == 2 and r.json()["undone"]["label"] == "b"
    assert stored(run) == [(1, "a", "alice", "ui"), (3, "a", "bob", "ui")]
    assert client.get("/api/query/2").json()["query"]["status"] == "open"
    assert client.get("/api/next", params={"annotator": "alice"}).json()["query"]["id"] == 2
    client.post("/api/undo", json={"annotator": "alice"})
    r = client.post("/api/undo", json={"annotator": "alice"})
    assert r.status_code == 200 and r.json()["undone"] is None
    bad = client.post("/api/undo", json={"annotator": ""})
    assert bad.status_code == 400 and "annotator" in bad.json()["error"]
    assert client.post("/api/undo", json={}).status_code == 422


def test_get_query(client):
    r = client.get("/api/query/3")
    assert r.status_code == 200 and r.json()["query"]["id"] == 3
    missing = client.get("/api/query/42")
    assert missing.status_code == 404 and "no query with id 42" in missing.json()["error"]
    assert client.get("/api/query/x").status_code == 422
    # Past SQLite's 64-bit INTEGER: a 400 naming the bound, not an OverflowError's 500.
    for big in (2**63, 2**64 + 5):
        r = client.get(f"/api/query/{big}")
        assert r.status_code == 400, r.text
        assert "query_id must be an int <= 9223372036854775807" in r.json()["error"]
    assert client.get(f"/api/query/{2**63 - 1}").status_code == 404  # the largest id is valid


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"annotator": "\\ud800"}', "lone surrogate"),
        (b'{"annotator": "al\\u0000ice"}', "control character"),
        (b'{"annotator": "alice\\r"}', "annotator must be"),
        (b'{"annotator": "al\\u0007ice"}', "control character"),
        (('{"annotator": "' + "y" * 300 + '"}').encode(), "at most 256 characters"),
    ],
)
def test_undo_refuses_bad_annotators_and_undoes_nothing(client, run, body, message):
    assert label(client, 1, "a").status_code == 200
    r = client.post("/api/undo", content=body, headers=JSON)
    assert r.status_code == 400 and message in r.json()["error"]
    assert stored(run) == [(1, "a", "alice", "ui")]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 422, "annotator: Field required"),
        ({"annotator": ""}, 400, "annotator must be"),
        ({"annotator": "alice", "exclude": "1,x"}, 400, "comma-separated query ids"),
        ({"annotator": "alice", "exclude": "-3"}, 400, "ids are >= 0"),
        ({"annotator": "alice", "exclude": ",".join(["1"] * 101)}, 400, "at most 100"),
        ({"annotator": "alice", "exclude": str(2**63)}, 400, "exclude[] must be an int <="),
        ({"annotator": "al\x00ice"}, 400, "control character"),
        ({"annotator": "al\x1bice"}, 400, "control character"),
        ({"annotator": "z" * 257}, 400, "at most 256 characters"),
    ],
)
def test_next_refuses_bad_parameters(client, params, status, message):
    r = client.get("/api/next", params=params)
    assert r.status_code == status and message in r.json()["error"]


def test_a_query_wanting_k_labels_goes_to_k_annotators(client, run):
    with LabelStore(run.labels) as store:
        qid = store.add_queries(pairs(1, k=2))[0]
    for qid_other in range(1, qid):  # everyone answered the older queries
        for who in ("alice", "bob", "carol"):
            label(client, qid_other, "skip", annotator=who)
    assert client.get("/api/next", params={"annotator": "alice"}).json()["query"]["id"] == qid
    label(client, qid, "a", annotator="alice")
    assert client.get("/api/next", params={"annotator": "alice"}).status_code == 204
    assert client.get("/api/next", params={"annotator": "bob"}).json()["query"]["id"] == qid
    label(client, qid, "b", annotator="bob")
    assert client.get("/api/query/" + str(qid)).json()["query"]["status"] == "done"
    assert client.get("/api/next", params={"annotator": "carol"}).status_code == 204


def test_a_segment_of_a_missing_episode_is_reported_and_can_be_skipped(tmp_path):
    run = make_run(
        tmp_path / "run",
        [synthetic_episode("ep0")],
        [(("ep0", 0, 6), ("ghost", 0, 6), "uniform"), (("ep0", 0, 6), ("ep0", 8, 9), "uniform")],
    )
    with TestClient(create_app(UIConfig(run.root)), base_url="http://localhost") as c:
        body = c.get("/api/query/1").json()
        assert body["a"]["error"] is None and len(body["a"]["cameras"]) == 3
        assert body["b"]["cameras"] == [] and "ghost is not in" in body["b"]["error"]
        out_of_range = c.get("/api/query/2").json()["b"]
        assert "out of range" in out_of_range["error"]
        assert label(c, 1, "skip").status_code == 200


def test_an_episode_without_frames_has_no_clips(tmp_path):
    run = make_run(
        tmp_path / "run",
        [synthetic_episode("ep0", cameras=()), synthetic_episode("ep1", cameras=())],
        pairs(1),
        task=None,  # no config.json: the task comes from the episodes
    )
    with TestClient(create_app(UIConfig(run.root)), base_url="http://localhost") as c:
        body = c.get("/api/next", params={"annotator": "alice"}).json()
        assert body["a"]["cameras"] == [] and body["a"]["error"] is None
        assert body["task"] == "panda-reach"
        assert c.get("/api/info").json()["task"] == ""


def test_a_missing_run_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        create_app(UIConfig(tmp_path / "nope"))


def test_the_listening_socket_is_tcp_so_asyncio_turns_nagle_off():
    import socket

    from robopref.ui.server import bind

    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; with Nagle on,
    # every response waited 40 ms for the client's delayed ACK.
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            bind("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()
