"""Running the query app with uvicorn: bind first, print the address, then serve.

Binding the socket before uvicorn starts lets ``--port 0`` pick a free port and still print
the real address (tests and scripts read it from the first line of output).
"""

from __future__ import annotations

import json
import socket
import sys
from typing import IO, Any

from robopref.ui.app import create_app
from robopref.ui.config import UIConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` has a colon).

    Raises:
        OSError: the address is in use or cannot be bound (with the address in the message).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and with Nagle on, a response written as headers then body waits for
    # the client's delayed ACK: 40 ms on every request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(config: UIConfig, out: IO[str] | None = None, **summary: Any) -> None:
    """Serves the run of ``config`` until interrupted (Ctrl-C or SIGTERM).

    Prints one JSON line first, ``{"url", "run", "token_required", **summary}``, to ``out``
    (stdout by default), and a line for people on stderr.
    """
    import uvicorn

    out = sys.stdout if out is None else out
    app = create_app(config)
    sock = bind(config.host, config.port)
    url = config.url(sock.getsockname()[1])
    counts = app.state.store.counts()
    line = {
        "url": url,
        "run": str(config.run_dir),
        "token_required": config.token is not None,
        "queued": counts.queued,
        "labels": counts.labels,
        **summary,
    }
    print(json.dumps(line), file=out, flush=True)
    print(f"robopref label: open {url} in Chromium; Ctrl-C stops", file=sys.stderr, flush=True)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then re-raises it; stopping is the
        # normal way to end `robopref label`, not an error worth a traceback.
        pass
    finally:
        sock.close()
