"""One local Ray for the whole session, started only if a Ray test runs.

Actors import the test workers (``pool_workers``) from this directory through PYTHONPATH;
``meshq`` itself imports in actors because the project is installed (editable) in the venv.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshq.api.pools import PoolsClient

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
async def pools(server: Any) -> AsyncIterator[PoolsClient]:
    """An admin pools client on the shared server; stops every pool it sees afterwards (named
    with its room: two rooms may each hold a pool of one name)."""
    conn = server.connection()
    client = PoolsClient(conn)
    yield client
    for pool in await client.list():
        await client.stop(pool.name, room=pool.room, grace=0.1)
    await conn.close()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray = pytest.importorskip("ray")
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    options = dict(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                   runtime_env={"env_vars": {"PYTHONPATH": path, "RAY_AUTH_MODE": "disabled"}})
    for attempt in range(3):  # a local start can time out on its GCS port file when loaded
        try:
            ray.init(**options)
            break
        except Exception as err:
            ray.shutdown()
            if attempt == 2:
                raise
            print(f"starting the session's local Ray failed ({err}); trying again")
    try:
        yield ray
    finally:
        ray.shutdown()
