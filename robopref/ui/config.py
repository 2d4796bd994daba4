"""`UIConfig`: what ``robopref label`` serves, where, and to whom.

The server binds to the loopback interface by default, where only this machine's users reach
it and no token is needed. Any other bind address serves the network, so it needs an access
token (`UIConfig` generates one when none is given); ``robopref label`` prints the URL that
carries it.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from robopref.data.video import CODECS

#: Host names that always reach the server from this machine.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARDS = ("", "0.0.0.0", "::")
# URL- and cookie-safe; 16 characters of token_urlsafe is 96 bits.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,256}")
_HOST_NAME_RE = re.compile(r"[A-Za-z0-9.:-]{1,253}")


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local_names() -> set[str]:
    """This machine's own names and addresses, for a server bound to every interface."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    try:
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass  # a host name without a resolvable address: its name alone is still allowed
    # The address of the interface that routes outwards: connecting a UDP socket sends no
    # packet, it only picks the source address (the LAN address a colleague would type).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            names.add(s.getsockname()[0])
        except OSError:
            pass  # no route: no LAN address to allow
    return names


@dataclass(frozen=True)
class UIConfig:
    """The query UI's server settings (``robopref label`` flags map onto these one to one).

    Raises:
        ValueError: a bad port, codec, token or host name, naming the value.
    """

    run_dir: Path
    """The run directory (`robopref.runs.RunPaths`): its label store, episodes and clips."""
    host: str = "127.0.0.1"
    """Address to bind. Anything but loopback requires ``token``."""
    port: int = 8765
    """TCP port; 0 picks a free one."""
    annotator: str = ""
    """Name the page suggests when the browser has none remembered."""
    token: str | None = None
    """Access token; None: none on loopback, a generated one elsewhere."""
    allow_hosts: tuple[str, ...] = ()
    """Extra ``Host`` header names to accept (a reverse proxy's name, a DNS alias)."""
    codec: str = "h264"
    """Clip codec: ``h264`` (MP4) or ``vp9`` (WebM); Chromium plays both."""
    min_size: int = 168
    """Clips are upscaled (nearest neighbour) until their shorter side has this many pixels."""
    poll_ms: int = 1000
    """How often the page asks for a query while none is queued."""
    encode_workers: int = 2
    """ffmpeg processes run at once when encoding a query's clips."""
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError(f"port must be an int in 0..65535, got {self.port!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; valid: {sorted(CODECS)}")
        for name, v, low in (
            ("min_size", self.min_size, 1),
            ("poll_ms", self.poll_ms, 100),
            ("encode_workers", self.encode_workers, 1),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if self.token is None and not is_loopback(self.host):
            object.__setattr__(self, "token", secrets.token_urlsafe(24))
        if self.token is not None and not _TOKEN_RE.fullmatch(self.token):
            raise ValueError(
                "token must be 16-256 characters from [A-Za-z0-9_-] (it travels in URLs and "
                f"cookies); got one of {len(self.token)} characters"
            )
        for name in self.allow_hosts:
            if not isinstance(name, str) or not _HOST_NAME_RE.fullmatch(name):
                raise ValueError(f"allow_hosts: {name!r} is not a host name or address")
        hosts = set(LOOPBACK_NAMES) | {h.lower() for h in self.allow_hosts}
        if self.host in _WILDCARDS:
            hosts |= _local_names()
        else:
            hosts.add(self.host.lower())
        object.__setattr__(self, "_hosts", frozenset(hosts))

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """``Host`` header names (without port) the server answers; others get a 403."""
        return self._hosts

    def url(self, port: int | None = None) -> str:
        """The address to open in the browser (with the token, when there is one)."""
        host = self.host
        if host in _WILDCARDS:
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{self.port if port is None else port}/"
        return url if self.token is None else f"{url}?token={self.token}"
