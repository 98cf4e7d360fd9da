"""The Studio's settings, read once by the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_STUDIO_LISTEN = "127.0.0.1:8470"
SESSION_MAX_SECONDS = 12 * 3600.0  # a session lasts at most this long, even for a longer token
CODE_TTL_SECONDS = 60.0  # a one-time login code must be used within a minute
SAMPLE_INTERVAL_SECONDS = 2.0  # how often the charts' counters are read
SAMPLE_WINDOW_SECONDS = 600.0  # how far back the charts reach (ten minutes)


@dataclass(frozen=True, kw_only=True)
class StudioConfig:
    """Where the Studio listens and which server it is a client of."""

    server: str
    """host:port of the meshq gRPC server."""
    listen: str = DEFAULT_STUDIO_LISTEN
    """host:port the Studio serves HTTP on; port 0 picks a free one."""
    tls_ca: Path | None = None
    """CA certificate to verify the server's TLS certificate."""
    metrics_url: str = ""
    """The server's Prometheus endpoint (http://host:port/metrics): the charts' counters.
    Empty: no charts (the tables still show live counts)."""
    insecure: bool = False
    """Serve plain HTTP on a non-loopback address (put TLS in front of it)."""
    session_max_seconds: float = SESSION_MAX_SECONDS
    """A session ends after this long, or when its token expires, whichever is first."""
    code_ttl_seconds: float = CODE_TTL_SECONDS
    """How long a one-time login code from `meshq studio url` stays valid."""
    sample_interval_seconds: float = SAMPLE_INTERVAL_SECONDS
    """How often the charts' counters are read while anyone is signed in."""
    sample_window_seconds: float = SAMPLE_WINDOW_SECONDS
    """How many seconds of samples the charts keep."""
