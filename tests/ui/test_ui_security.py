"""Who may use the query app and which files it sends: Host, token, same-origin, media paths."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from robopref.preferences import LabelStore
from robopref.ui.app import create_app
from robopref.ui.config import UIConfig, is_loopback
from robopref.ui.security import TOKEN_COOKIE, MediaPathError, host_name, safe_clip_path

TOKEN = "s3cret-token_0123456789"
LABEL = {"query_id": 1, "label": "a", "annotator": "alice"}


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
    import json

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
