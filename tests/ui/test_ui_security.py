"""Who may use the query app and which files it sends: Host, token, same-origin, media paths."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from robopref.preferences import LabelStore
from robopref.ui.app import create_app
from robopref.ui.config import UIConfig, is_loopback
from robopref.ui.security import (
    MAX_BODY_BYTES,
    TOKEN_COOKIE,
    MediaPathError,
    host_name,
    safe_clip_path,
)

TOKEN = "s3cret-token_0123456789"
LABEL = {"query_id": 1, "label": "a", "annotator": "alice"}
JSON_TYPE = {"Content-Type": "application/json"}


def n_labels(run) -> int:
    with LabelStore(run.labels) as store:
        return store.counts().labels


# ---------------------------------------------------------------- config
def test_loopback_needs_no_token_and_other_hosts_get_one():
    assert UIConfig("r").token is None
    assert UIConfig("r", host="localhost").token is None
    generated = UIConfig("r", host="0.0.0.0")
    assert generated.token is not None and len(generated.token) >= 32
    assert generated.token != UIConfig("r", host="0.0.0.0").token
    assert UIConfig("r", host="192.168.1.20", token=TOKEN).token == TOKEN
    assert UIConfig("r", host="192.168.1.20", token=TOKEN).url(9000) == (
        f"http://192.168.1.20:9000/?token={TOKEN}"
    )
    assert UIConfig("r").url(8765) == "http://127.0.0.1:8765/"
    assert UIConfig("r", host="::1").url(1) == "http://[::1]:1/"


def test_allowed_hosts():
    assert UIConfig("r").allowed_hosts >= {"localhost", "127.0.0.1", "::1"}
    lan = UIConfig("r", host="192.168.1.20", allow_hosts=("Labeller.Lab",))
    assert {"192.168.1.20", "labeller.lab", "localhost"} <= lan.allowed_hosts
    assert "evil.example" not in lan.allowed_hosts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "port must be in 0..65535"),
        ({"port": "80"}, "port must be an int"),
        ({"codec": "mpeg4"}, "unknown codec 'mpeg4'"),
        ({"token": "short"}, "token must be 16-256 characters"),
        ({"token": "x" * 20 + ";"}, "token must be 16-256 characters"),
        ({"allow_hosts": ("a b",)}, "not a host name"),
        ({"poll_ms": 10}, "poll_ms must be an int >= 100"),
        ({"min_size": 0}, "min_size must be an int >= 1"),
    ],
)
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UIConfig("r", **kwargs)


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8765", "localhost"),
        ("LOCALHOST", "localhost"),
        ("localhost.:80", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:8765", "::1"),
        ("[::1]", "::1"),
        ("[::1", None),
        ("[::1]x", None),
        ("host:port", None),
        ("a b", None),
        ("", None),
        ("evil.com/x", None),
    ],
)
def test_host_name(header, name):
    assert host_name(header) == name


# ---------------------------------------------------------------- Host header
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", ""])
def test_a_foreign_host_header_is_a_403_everywhere(client, run, host):
    for path in ("/", "/static/app.js", "/api/info", "/api/next?annotator=a", "/media/x.mp4"):
        r = client.get(path, headers={"Host": host})
        assert r.status_code == 403, path
        assert "refused Host header" in r.json()["error"]
    r = client.post("/api/label", json=LABEL, headers={"Host": host})
    assert r.status_code == 403 and n_labels(run) == 0


@pytest.mark.parametrize("host", ["localhost:8765", "127.0.0.1:1", "[::1]:8765"])
def test_local_host_headers_are_served(client, host):
    assert client.get("/api/info", headers={"Host": host}).status_code == 200


# ---------------------------------------------------------------- token
@pytest.fixture
def token_client(run):
    config = UIConfig(run.root, token=TOKEN)
    with TestClient(create_app(config), base_url="http://127.0.0.1:8765") as c:
        yield c


def test_the_token_is_checked_on_every_call(token_client, run):
    c = token_client
    for path in ("/", "/static/app.js", "/api/info", "/api/counts", "/media/x.mp4"):
        r = c.get(path)
        assert r.status_code == 401, path
        assert "access token" in r.json()["error"]
        wrong = {"Authorization": "Bearer wrong-token-123456"}
        assert c.get(path, headers=wrong).status_code == 401
    assert c.post("/api/label", json=LABEL).status_code == 401
    assert c.post("/api/undo", json={"annotator": "alice"}).status_code == 401
    assert c.get("/?token=wrong-token-123456").status_code == 401
    assert n_labels(run) == 0
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert c.get("/api/info", headers=auth).status_code == 200
    assert c.post("/api/label", json=LABEL, headers=auth).status_code == 200
    assert n_labels(run) == 1


def test_the_printed_url_sets_a_cookie_and_drops_the_token_from_the_address(token_client):
    c = token_client
    r = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert f"{TOKEN_COOKIE}={TOKEN}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    c.cookies.clear()
    c.cookies.set(TOKEN_COOKIE, TOKEN)
    assert c.get("/").status_code == 200
    assert c.get("/api/next", params={"annotator": "alice"}).status_code == 200
    c.cookies.clear()
    c.cookies.set(TOKEN_COOKIE, "wrong-token-123456")
    assert c.get("/api/info").status_code == 401


def test_the_token_is_not_taken_from_the_query_string_of_api_calls(token_client):
    assert token_client.get(f"/api/info?token={TOKEN}").status_code == 401


# ---------------------------------------------------------------- same origin
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://127.0.0.1:9999"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ],
)
def test_cross_origin_writes_are_refused(client, run, headers, status):
    all_headers = {"Content-Type": "application/json", **headers}
    r = client.post("/api/label", content=json.dumps(LABEL), headers=all_headers)
    assert r.status_code == status
    r = client.post("/api/undo", content=b'{"annotator": "alice"}', headers=all_headers)
    assert r.status_code == status
    assert n_labels(run) == 0


def test_same_origin_writes_are_served(client, run):
    headers = {"Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/label", json=LABEL, headers=headers).status_code == 200
    assert n_labels(run) == 1


# ---------------------------------------------------------------- media paths
def test_safe_clip_path(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "ep~0-5~front.h264.mp4").write_bytes(b"clip")
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.mp4", clips / "escape.mp4")
    os.symlink(clips / "ep~0-5~front.h264.mp4", clips / "alias.mp4")
    (clips / "sub.mp4").mkdir()
    assert safe_clip_path(clips, "ep~0-5~front.h264.mp4") == clips / "ep~0-5~front.h264.mp4"
    assert safe_clip_path(clips, "alias.mp4").read_bytes() == b"clip"  # stays inside
    cases = {
        "../secret.mp4": 400, "..": 400, "/etc/passwd": 400, "a\\b.mp4": 400, "a\x00.mp4": 400,
        "x.json": 400, ".hidden.mp4": 400, "": 400, "escape.mp4": 403, "missing.mp4": 404,
        "sub.mp4": 404,
    }  # fmt: skip
    for name, status in cases.items():
        with pytest.raises(MediaPathError) as e:
            safe_clip_path(clips, name)
        assert e.value.status == status, name


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/media/..%2flabels.sqlite", 400),
        ("/media/%2e%2e%2flabels.sqlite", 400),
        ("/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400),
        ("/media/..%5c..%5cetc%5cpasswd", 400),
        ("/media/%2fetc%2fpasswd", 400),
        ("/media//etc/passwd", 400),
        ("/media/clip.mp4%00.json", 400),
        ("/media/%252e%252e%252flabels.sqlite", 400),
        ("/media/config.json", 400),
        ("/media/escape.mp4", 403),
        ("/media/nothing~0-1~front.h264.mp4", 404),
    ],
)
def test_media_outside_the_clip_cache_is_refused(client, run, tmp_path, path, status):
    run.clips.mkdir(exist_ok=True)
    (tmp_path / "outside.mp4").write_bytes(b"not yours")
    if not (run.clips / "escape.mp4").exists():
        os.symlink(tmp_path / "outside.mp4", run.clips / "escape.mp4")
    r = client.get(path)
    assert r.status_code == status
    assert "error" in r.json()
    assert b"not yours" not in r.content and b"SQLite" not in r.content


# ---------------------------------------------------------------- body size
def _padded_label(size: int) -> bytes:
    """A valid label body of exactly ``size`` bytes (JSON whitespace pads it)."""
    body = json.dumps(LABEL).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_body_over_the_cap_is_a_413_and_stores_nothing(client, run):
    # Issue 15: a 10 MB body was read whole and parsed before it was refused.
    r = client.post("/api/label", content=_padded_label(10_000_000), headers=JSON_TYPE)
    assert r.status_code == 413 and f"at most {MAX_BODY_BYTES} bytes" in r.json()["error"]
    r = client.post("/api/label", content=_padded_label(MAX_BODY_BYTES + 1), headers=JSON_TYPE)
    assert r.status_code == 413
    r = client.post("/api/undo", content=b" " * 100_000 + b"{}", headers=JSON_TYPE)
    assert r.status_code == 413
    assert n_labels(run) == 0
    # A body of exactly the cap is served.
    r = client.post("/api/label", content=_padded_label(MAX_BODY_BYTES), headers=JSON_TYPE)
    assert r.status_code == 200, r.text
    assert n_labels(run) == 1


async def _call(app, method: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    """Calls the ASGI ``app`` with a body streamed in ``chunks``; returns (status, body,
    number of chunks the server pulled)."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1],
                    "more_body": pulled < len(chunks)}  # fmt: skip
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": "/api/label", "raw_path": b"/api/label", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8765),
        "headers": [(b"host", b"127.0.0.1:8765"), (b"content-type", b"application/json"),
                    *headers],
    }  # fmt: skip
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


def test_a_streamed_body_is_cut_off_at_the_cap(run):
    import anyio

    app = create_app(UIConfig(run.root))
    # 10 MB in 4 KiB chunks without a Content-Length (chunked transfer encoding).
    chunk = 4096
    big = _padded_label(10_000_000)
    chunks = [big[i : i + chunk] for i in range(0, len(big), chunk)]
    status, body, pulled = anyio.run(_call, app, "POST", chunks, [])
    assert status == 413 and "too large" in body["error"]
    # It stopped reading as soon as the cap was passed, not at the end of the body.
    assert pulled == MAX_BODY_BYTES // chunk + 1 < len(chunks)
    assert n_labels(run) == 0
    # The same body in pieces, under the cap, is put back together for the app.
    small = _padded_label(3000)
    pieces = [small[i : i + 7] for i in range(0, len(small), 7)]
    status, body, _ = anyio.run(_call, app, "POST", pieces, [])
    assert status == 200 and body["label"]["annotator"] == "alice"
    assert n_labels(run) == 1


@pytest.mark.parametrize(
    ("length", "status"), [(b"10000000", 413), (b"-1", 400), (b"1e3", 400), (b"\xb2", 400)]
)
def test_a_bad_or_too_large_content_length_is_refused_before_reading(run, length, status):
    import anyio

    app = create_app(UIConfig(run.root))
    for method in ("POST", "GET"):
        got, body, pulled = anyio.run(
            _call, app, method, [json.dumps(LABEL).encode()], [(b"content-length", length)]
        )
        assert (got, pulled) == (status, 0), method  # refused on the header alone
        assert "Content-Length" in body["error"] or "too large" in body["error"]
    assert n_labels(run) == 0


def test_a_real_server_answers_413_on_the_declared_length_alone(run):
    import socket

    from ui_helpers import thread_server

    with thread_server(UIConfig(run.root)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"POST /api/label HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
            )  # and no body: the answer must not wait for 10 MB
            reply = b""
            while b"\r\n\r\n" not in reply:
                data = s.recv(4096)
                if not data:
                    break
                reply += data
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert n_labels(run) == 0
