"""Where a local meshq keeps its files, and where clients find the server.

Shared by the server (which writes the API key and the admin token) and by the CLI and SDK
(which read the admin token), so both sides agree on one layout. Environment variables are
read when these functions are called, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SERVER = "127.0.0.1:50051"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"
API_KEY_FILE = "api_key"
ADMIN_TOKEN_FILE = "admin.token"


def default_data_dir() -> Path:
    """``$MESHQ_DATA_DIR``, else ``$XDG_DATA_HOME/meshq``, else ``~/.local/share/meshq``."""
    explicit = os.environ.get("MESHQ_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "meshq"


def default_server() -> str:
    """``$MESHQ_SERVER`` or 127.0.0.1:50051."""
    return os.environ.get("MESHQ_SERVER") or DEFAULT_SERVER


def admin_token_path(data_dir: Path | None = None) -> Path:
    return (data_dir or default_data_dir()) / ADMIN_TOKEN_FILE


def api_key_path(data_dir: Path | None = None) -> Path:
    return (data_dir or default_data_dir()) / API_KEY_FILE
