"""Pools' desired state, kept so that a restarted server re-creates its pools.

``PoolStore`` is the seam (STYLE item 1): ``SqlitePoolStore`` (a ``pools.db`` in the data
dir, the embedded default) and ``MemoryPoolStore`` (unit tests, ``--no-store`` setups) here;
a PostgreSQL implementation goes beside them. A stored pool is its whole ``PoolSpec`` proto
(worker, agent config, scaling, runtime env with its values: they are needed to re-create it)
plus the token scope it runs with, as JSON, for operators to inspect. The spec is validated
again on load, exactly as StartPool validates it, so a row that no longer passes is skipped
with a log line instead of crashing the start.

The file holds secrets (environment values): it is created 0600, like the API key.

``SupervisorLease`` answers "am I the supervisor?": with several server replicas on one
database exactly one should re-create and supervise the pools. The embedded store has one
server per data dir, so ``AlwaysSupervisor`` says yes; a PostgreSQL lease (an advisory lock)
implements the same Protocol.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from meshq.pools.model import PoolConfig

logger = logging.getLogger(__name__)

STORE_FILE = "pools.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
    room TEXT NOT NULL,
    name TEXT NOT NULL,
    spec BLOB NOT NULL,
    token_scope TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (room, name)
)
"""


class PoolStore(Protocol):
    """Where pools' desired state lives. Calls are blocking (run them in a thread)."""

    def save(self, config: PoolConfig) -> None:
        """Insert or replace the pool (start, scale)."""

    def delete(self, room: str, name: str) -> None:
        """Forget the pool (stop). No error when it is not stored."""

    def load(self) -> list[PoolConfig]:
        """Every stored pool, validated, by room and name."""

    def close(self) -> None:
        """Release the store."""


class SupervisorLease(Protocol):
    """Whether this server replica supervises the pools now."""

    async def held(self) -> bool:
        """True when this replica should re-create and supervise the stored pools."""


class AlwaysSupervisor:
    """One server per store (embedded mode): always the supervisor."""

    async def held(self) -> bool:
        return True


def encode(config: PoolConfig) -> tuple[bytes, str]:
    """(the spec proto with env values, the token scope as JSON)."""
    from meshq.pools.convert import pool_spec_to_proto
    from meshq.pools.tokens import pool_scope

    spec = pool_spec_to_proto(config, reveal_env=True)
    return spec.SerializeToString(), json.dumps(pool_scope(config).to_json(), sort_keys=True)


def decode(blob: bytes) -> PoolConfig:
    from meshq.pools.convert import pool_config_from_proto
    from meshq.v1 import workers_pb2

    spec = workers_pb2.PoolSpec()
    spec.ParseFromString(blob)
    return pool_config_from_proto(spec)


class MemoryPoolStore:
    """A store that lives as long as the process."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], bytes] = {}

    def save(self, config: PoolConfig) -> None:
        self._rows[config.key] = encode(config)[0]

    def delete(self, room: str, name: str) -> None:
        self._rows.pop((room, name), None)

    def load(self) -> list[PoolConfig]:
        return [decode(blob) for _, blob in sorted(self._rows.items())]

    def close(self) -> None:
        return None


class SqlitePoolStore:
    """``pools.db`` in the data dir (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():  # create it private before SQLite opens it
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqlitePoolStore:
        return cls(Path(data_dir) / STORE_FILE)

    def save(self, config: PoolConfig) -> None:
        spec, scope = encode(config)
        with self._lock:
            self._db.execute(
                "INSERT INTO pools (room, name, spec, token_scope, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (room, name) DO UPDATE SET "
                "spec = excluded.spec, token_scope = excluded.token_scope, "
                "updated_at = excluded.updated_at",
                (config.worker.room, config.name, spec, scope, time.time()))

    def delete(self, room: str, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM pools WHERE room = ? AND name = ?", (room, name))

    def load(self) -> list[PoolConfig]:
        with self._lock:
            rows = self._db.execute(
                "SELECT room, name, spec FROM pools ORDER BY room, name").fetchall()
        configs = []
        for room, name, blob in rows:
            try:
                configs.append(decode(blob))
            except Exception as err:
                logger.error("stored pool %s in room %s is not valid any more, skipped: %s",
                             name, room, err)
        return configs

    def close(self) -> None:
        with self._lock:
            self._db.close()
