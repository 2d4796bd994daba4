"""The real server (uvicorn in a subprocess): an acknowledged label survives SIGKILL, four
client processes lose nothing, and the security checks hold on the wire."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from ui_helpers import (
    REPO,
    make_run,
    pairs,
    record_real_episode,
    start_server_process,
    synthetic_episode,
)

from robopref.data import EpisodeStore
from robopref.preferences import LabelStore

pytestmark = pytest.mark.subprocess
WORKER = Path(__file__).with_name("_http_label_worker.py")
TOKEN = "wire-token-0123456789abcdef"


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.mark.parametrize("acks_before_kill", [1, 40])
def test_sigkill_right_after_an_ack_loses_no_label(tmp_path, acks_before_kill):
    run = make_run(tmp_path / "run", [], pairs(400, k=2))
    proc, line = start_server_process(run.root)
    url = line["url"]
    acked: list[tuple[int, str, str]] = []  # (label id, annotator, client id), in ack order
    lock, stop_bg = threading.Lock(), threading.Event()

    def post(client: httpx.Client, qid: int, who: str) -> None:
        cid = f"{who}-{qid}"
        r = client.post(
            "/api/label", json={"query_id": qid, "label": "a", "annotator": who,
                                "client_label_id": cid},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        with lock:
            acked.append((r.json()["label"]["id"], who, cid))

    def background() -> None:  # keeps a write in flight when the kill lands
        with httpx.Client(base_url=url, timeout=10) as client:
            for qid in range(1, 401):
                if stop_bg.is_set():
                    return
                try:
                    post(client, qid, "bg")
                except httpx.HTTPError:
                    return  # the server is gone: only acknowledged labels matter

    bg = threading.Thread(target=background)
    bg.start()
    with httpx.Client(base_url=url, timeout=10) as client:
        for qid in range(1, acks_before_kill + 1):
            post(client, qid, "fg")
    os.kill(proc.pid, signal.SIGKILL)
    stop_bg.set()
    bg.join(timeout=30)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert integrity(run.labels) == "ok"
    with LabelStore(run.labels) as store:
        rows = {(r.id, r.annotator, r.client_label_id) for r in store.labels()}
        assert set(acked) <= rows
        assert sum(1 for _, who, _ in acked if who == "fg") == acks_before_kill
        # The store takes labels after the crash: the next query for "fg" follows its last.
        nxt = store.next_query("fg")
        assert nxt.id == acks_before_kill + 1
        store.add_label(nxt.id, "b", "fg", source="ui")
    assert integrity(run.labels) == "ok"


def test_four_client_processes_post_500_labels_each(tmp_path):
    n_workers, per_worker = 4, 500
    run = make_run(tmp_path / "run", [], pairs(per_worker, k=n_workers))
    proc, line = start_server_process(run.root)
    try:
        workers = [
            subprocess.Popen(
                [sys.executable, str(WORKER), line["url"], f"worker{i}", str(per_worker)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            for i in range(n_workers)
        ]
        for w in workers:
            assert w.stdout.readline().strip() == "ready"
        for w in workers:  # released together, so their writes contend in the server
            w.stdin.write("go\n")
            w.stdin.flush()
        results = [w.communicate(timeout=120) for w in workers]
    finally:
        err = stop(proc)
    retries = per_worker // 50
    for w, (out, werr) in zip(workers, results):
        assert w.returncode == 0, werr
        assert out.split() == ["done", str(per_worker + retries), str(retries)]
    assert "locked" not in err and "Traceback" not in err, err
    with LabelStore(run.labels) as store:
        rows = store.labels()
        counts = store.counts()
    assert len(rows) == n_workers * per_worker == 2000
    assert len({r.client_label_id for r in rows}) == 2000  # each retry stored once
    assert (counts.labelled, counts.queued) == (per_worker, 0)
    assert integrity(run.labels) == "ok"


def raw_get(url: str, target: str, host: str | None = None) -> tuple[int, bytes]:
    """A GET whose request target goes on the wire exactly as given (no normalizing)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        head = f"GET {target} HTTP/1.1\r\nHost: {host or parts.netloc}\r\nConnection: close\r\n"
        s.sendall(head.encode() + b"\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def test_the_real_server_checks_host_token_origin_and_media_paths(tmp_path):
    run = make_run(tmp_path / "run", [synthetic_episode("ep0"), synthetic_episode("ep1")], pairs(2))
    (tmp_path / "outside.mp4").write_bytes(b"private bytes")
    run.clips.mkdir()
    os.symlink(tmp_path / "outside.mp4", run.clips / "link.mp4")
    proc, line = start_server_process(run.root, "--token", TOKEN, "--annotator", "ann")
    try:
        assert line["token_required"] is True and line["url"].endswith(f"/?token={TOKEN}")
        base = line["url"].split("?")[0]
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(base + "api/info").status_code == 401
        assert httpx.get(base + "api/info", headers=auth).json()["annotator"] == "ann"
        with httpx.Client() as browser:  # the printed URL logs the browser in
            r = browser.get(line["url"], follow_redirects=True)
            assert r.status_code == 200 and "robopref" in r.text
            assert browser.get(base + "api/next?annotator=ann").status_code == 200
        foreign = httpx.get(base + "api/info", headers={**auth, "Host": "evil.example"})
        assert foreign.status_code == 403
        r = httpx.post(
            base + "api/label",
            json={"query_id": 1, "label": "a", "annotator": "ann"},
            headers={**auth, "Origin": "http://evil.example"},
        )
        assert r.status_code == 403
        for target in (
            "/media/../labels.sqlite", "/media/../../etc/passwd", "/media/..%2flabels.sqlite",
            "/media/%2e%2e/labels.sqlite", "/media/link.mp4", "/media/..\\labels.sqlite",
            "/media/x%00.mp4", "/../labels.sqlite",
        ):  # fmt: skip
            status, data = raw_get(base, target + f"?token={TOKEN}")
            assert status in (400, 401, 403, 404), target
            assert b"SQLite format" not in data and b"private bytes" not in data, target
        status, _ = raw_get(base, "/api/info", host="attacker.example")
        assert status == 403
    finally:
        stop(proc)
    with LabelStore(run.labels) as store:
        assert store.counts().labels == 0


def test_label_command_imports_recordings_and_queues_pairs(tmp_path):
    recorded = EpisodeStore(tmp_path / "recorded")
    for seed in range(2):
        recorded.save(record_real_episode(seed, steps=20))
    proc, line = start_server_process(
        tmp_path / "real-run", "--episodes", str(recorded.root), "--pairs", "3",
        "--segment-length", "8",
    )  # fmt: skip
    try:
        assert (line["imported"], line["queries_added"], line["queued"]) == (2, 3, 3)
        assert line["token_required"] is False
        base = line["url"]
        deadline = time.monotonic() + 30
        body = httpx.get(base + "api/next?annotator=op", timeout=30).json()
        assert body["query"]["id"] == 1 and len(body["a"]["cameras"]) == 2
        answer = {"query_id": 1, "label": "equal", "annotator": "op"}
        r = httpx.post(base + "api/label", json=answer)
        assert r.status_code == 200 and time.monotonic() < deadline
    finally:
        stop(proc)
    with LabelStore(tmp_path / "real-run" / "labels.sqlite") as store:
        assert [(r.query_id, r.label) for r in store.labels()] == [(1, "equal")]
