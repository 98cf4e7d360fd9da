"""PostgreSQL test fixtures: the session's throwaway cluster and a fresh schema per test."""

from __future__ import annotations

import pytest
from pgcluster import PgCluster, fresh_schema, need_postgres, shared_cluster


@pytest.fixture(scope="session")
def pg_cluster() -> PgCluster:
    need_postgres()
    return shared_cluster()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A URL of an empty schema of its own on the session's cluster."""
    return fresh_schema(pg_cluster)
