"""The tests' throwaway PostgreSQL: one cluster per session, a fresh schema per test.

The cluster itself is ``meshq.postgres.cluster.PgCluster`` (initdb into a temp dir, a free
port, fsync on; never the system's PostgreSQL service); this module shares one across the
session's test files and gives each test an empty schema of its own.
"""

from __future__ import annotations

import os
import subprocess

from meshq.postgres.cluster import PgCluster, find_bin

__all__ = ["PgCluster", "find_bin", "fresh_schema", "need_postgres", "schema_url",
           "shared_cluster"]

_shared: PgCluster | None = None


def shared_cluster() -> PgCluster:
    """The session's one cluster, started on first use and removed when the process exits."""
    global _shared
    if _shared is None:
        import atexit

        cluster = PgCluster().init()
        cluster.start()
        atexit.register(cluster.cleanup)
        _shared = cluster
    return _shared


def fresh_schema(cluster: PgCluster, prefix: str = "t") -> str:
    """A new empty schema; returns a URL whose connections use it (search_path)."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    psql = find_bin("psql")
    if psql is None:
        raise RuntimeError("psql not found; install the postgresql package")
    subprocess.run([str(psql), "-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U",
                    cluster.user, "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    f"CREATE SCHEMA {name}"], check=True, capture_output=True)
    return f"{cluster.dsn}?search_path={name}"


def postgres_missing() -> str:
    """Why PostgreSQL tests cannot run here ("" when they can)."""
    if find_bin("initdb") is None or find_bin("pg_ctl") is None or find_bin("psql") is None:
        return "PostgreSQL binaries (initdb, pg_ctl, psql) are not installed"
    return ""


def need_postgres() -> None:
    """Skip the calling test where PostgreSQL is not installed, saying why; in CI
    (``CI=true``, where .ci/run installs it) fail instead."""
    import pytest

    missing = postgres_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)


def schema_url() -> str:
    """A fresh schema on the shared cluster (skips or fails as ``need_postgres`` says)."""
    need_postgres()
    return fresh_schema(shared_cluster())
