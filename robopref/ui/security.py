"""Who may talk to the query UI, and which files it may send.

* **Host check** (every request): the ``Host`` header must name this server
  (`UIConfig.allowed_hosts`), else 403. This stops DNS rebinding: a web page on
  ``evil.example`` that re-points its name at 127.0.0.1 still sends ``Host: evil.example``.
* **Token** (every request, when the server has one): ``Authorization: Bearer <token>`` or the
  ``robopref_token`` cookie, else 401. Opening ``/?token=<token>`` (the URL ``robopref label``
  prints) sets the cookie (HttpOnly, SameSite=Strict) and redirects to ``/``, so the token
  leaves the address bar and every later request of the page, videos included, carries it.
* **Same origin** (POST and other state-changing methods): an ``Origin`` header must equal
  the request's own origin, a ``Sec-Fetch-Site`` header must say ``same-origin``, and the body
  must be ``application/json`` (which a cross-site form cannot send without a CORS preflight
  the server never grants). Non-browser clients send neither header and pass on the token.
* **Body size** (every request): a body over `MAX_BODY_BYTES` is refused with 413, by its
  ``Content-Length`` before any of it is read, and (chunked, or a lying length) as soon as
  the bytes received pass the cap. The API's bodies are a few hundred bytes; without a cap a
  client could make the server hold any amount in memory before the app refused it.
* **Media**: `safe_clip_path` serves only regular files inside the run's clip cache.

The middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a
task and a stream copy per request on the label path.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from robopref.ui.config import UIConfig

TOKEN_COOKIE = "robopref_token"
#: Largest request body accepted, bytes. The largest valid one (a label with a 256-character
#: annotator and client label id, every character \u-escaped) is under 4 KiB.
MAX_BODY_BYTES = 16 * 1024
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# A clip file name: what `ClipCache.clip_name` makes, nothing else (no separators, no dots
# at the start, only the two clip suffixes).
_CLIP_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~-]{0,250}\.(?:mp4|webm)")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class MediaPathError(ValueError):
    """A media request names something other than a file in the clip cache."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def host_name(host_header: str) -> str | None:
    """The name part of a ``Host`` header (``"[::1]:8765"`` -> ``"::1"``), lower case.

    Returns None for a malformed header.
    """
    host = host_header.strip().lower()
    if host.startswith("["):  # IPv6 literal, maybe with a port
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not re.fullmatch(r":\d{1,5}", host[end + 1 :])):
            return None
        return host[1:end] or None
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    name = name.rstrip(".")  # "localhost." is localhost
    return name if re.fullmatch(r"[a-z0-9.-]{1,253}", name) else None


def safe_clip_path(clips_dir: Path, name: str) -> Path:
    """The file ``name`` in ``clips_dir``, refusing anything that could leave it.

    Refused: NUL bytes, backslashes, separators, ``..``, absolute paths, names that are not
    clip names, and symlinks (or any path) resolving outside ``clips_dir``.

    Raises:
        MediaPathError: with status 400 (a malformed name), 403 (resolves outside the clip
            cache) or 404 (no such clip).
    """
    if "\x00" in name or "\\" in name or "/" in name or ".." in name:
        raise MediaPathError(f"refused media name {name!r}: path characters", 400)
    if not _CLIP_NAME_RE.fullmatch(name):
        raise MediaPathError(f"refused media name {name!r}: not a clip name", 400)
    root = clips_dir.resolve()
    try:
        path = (clips_dir / name).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise MediaPathError(f"no clip {name!r} in the clip cache", 404) from None
    except (OSError, RuntimeError) as e:  # symlink loops and the like
        raise MediaPathError(f"refused media name {name!r}: {e}", 403) from e
    if path.parent != root:  # a symlink out of the cache, or into a subfolder
        raise MediaPathError(f"refused media name {name!r}: outside the clip cache", 403)
    if not path.is_file():
        raise MediaPathError(f"no clip {name!r} in the clip cache", 404)
    return path


def _headers(scope: Scope) -> dict[str, str]:
    # Latin-1 is how ASGI servers hand raw header bytes over; duplicate headers keep the last.
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _token_from(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if "cookie" in headers:
        try:
            jar = SimpleCookie(headers["cookie"])
        except CookieError:
            return None
        if TOKEN_COOKIE in jar:
            return jar[TOKEN_COOKIE].value
    return None


async def _send_json(send: Callable[[Any], Awaitable[None]], status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large() -> str:
    return f"request body too large: at most {MAX_BODY_BYTES} bytes"


def _declared_length_problem(length: str | None) -> tuple[int, str] | None:
    """A 400 or 413 for a malformed or too large ``Content-Length``; None when it is fine."""
    if length is None:
        return None
    length = length.strip()
    if not length.isdigit() or not length.isascii():
        return 400, f"malformed Content-Length header {length[:40]!r}"
    if int(length) > MAX_BODY_BYTES:
        return 413, _too_large()
    return None


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


async def _read_capped(receive: Callable[[], Awaitable[Any]]) -> bytes | None:
    """The request body, or None as soon as more than `MAX_BODY_BYTES` have arrived.

    Raises:
        _ClientGone: the client disconnected mid-body (the app is then never called).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """An ASGI ``receive`` that gives ``body`` whole, then waits on the real one (disconnect)."""
    pending = True

    async def replay() -> Any:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class AccessMiddleware:
    """Host, token, same-origin and body-size checks in front of the app (see module doc)."""

    def __init__(self, app: ASGIApp, config: UIConfig) -> None:
        self.app = app
        self.hosts = config.allowed_hosts
        self.token = config.token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan events carry no request
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host_header = headers.get("host", "")
        name = host_name(host_header)
        if name is None or name not in self.hosts:
            await _send_json(
                send, 403, f"refused Host header {host_header!r}: not a name of this server "
                "(`robopref label --allow-hosts NAME` adds one)"
            )  # fmt: skip
            return
        if self.token is not None:
            given = _token_from(headers)
            if scope["path"] == "/" and given is None:
                given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(
                    "token", [None]
                )[0]
                if given is not None and hmac.compare_digest(given, self.token):
                    await self._set_cookie_and_redirect(send)
                    return
            if given is None or not hmac.compare_digest(given, self.token):
                await _send_json(
                    send, 401, "missing or wrong access token: open the URL `robopref label` "
                    "printed (it ends in ?token=...)"
                )  # fmt: skip
                return
        if scope["method"] not in _SAFE_METHODS:
            problem = self._cross_origin(headers, host_header, scope.get("scheme", "http"))
            if problem:
                await _send_json(send, *problem)
                return
        problem = _declared_length_problem(headers.get("content-length"))
        if problem:
            await _send_json(send, *problem)
            return
        if scope["method"] not in _SAFE_METHODS:
            # Read the body here, capped, and hand the app the bytes: no handler ever sees
            # (or waits on) more than MAX_BODY_BYTES.
            try:
                body = await _read_capped(receive)
            except _ClientGone:
                return
            if body is None:
                await _send_json(send, 413, _too_large())
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    @staticmethod
    def _cross_origin(
        headers: dict[str, str], host_header: str, scheme: str
    ) -> tuple[int, str] | None:
        origin = headers.get("origin")
        if origin is not None and origin != f"{scheme}://{host_header}":
            return 403, f"cross-origin request refused (Origin {origin!r})"
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return 403, f"cross-origin request refused (Sec-Fetch-Site {site!r})"
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return 415, f"state-changing requests must send application/json, not {content_type!r}"
        return None

    async def _set_cookie_and_redirect(self, send: Any) -> None:
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", b"/"),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
