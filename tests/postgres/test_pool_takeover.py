"""A pool started through one replica survives that replica's death: the replica that takes
the supervisor lease over re-creates it from the pools' state in PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshq.api.pools import PoolsClient
from meshq.api.queues import QueuesClient
from meshq.api.rooms import RoomsClient
from postgres.replicas import Replicas

pytestmark = pytest.mark.slow

ROOM, QUEUE, POOL = "pool-room", "jobs", "takeover"
WORKERS = str(Path(__file__).resolve().parents[1] / "pools")  # pool_workers:SleepWorker


@pytest.fixture
async def replicas(tmp_path: Path, pg_url: str,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Replicas]:
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{path}{os.pathsep}{WORKERS}" if path else WORKERS)
    group = Replicas(tmp_path, pg_url)
    try:
        yield group
    finally:
        await group.close()


async def drained(queues: QueuesClient, timeout: float = 60.0) -> None:
    """Wait until the queue holds nothing (the pool did every job); no event exists to wait
    on: the state is in other processes."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        [info] = [q for q in await queues.list() if q.name == QUEUE]
        if info.depth == 0 and info.in_flight == 0:
            return
        assert time.monotonic() < deadline, f"jobs left: {info}"
        await asyncio.sleep(0.2)


async def test_a_pool_started_through_one_replica_survives_its_death(
        replicas: Replicas) -> None:
    # Given a supervisor replica (started first: it takes the lease) and a second one
    [a] = await replicas.start(1)
    [b] = await replicas.start(1)
    conn_a, conn_b = a.connection(replicas.token), b.connection(replicas.token)
    await RoomsClient(conn_a).create(ROOM)
    # When a pool is started through the first and works through its queue
    await PoolsClient(conn_a).start(room=ROOM, queue=QUEUE, worker_class="pool_workers:SleepWorker",
                                    replicas=1, name=POOL)
    await QueuesClient(conn_a, ROOM).send_many(QUEUE, [{"n": i, "sleep": 0.01} for i in range(5)])
    await drained(QueuesClient(conn_a, ROOM))
    await conn_a.close()
    # And the first replica is SIGKILLed (its in-process workers with it)
    await a.kill()
    # Then the second takes the pools over and the pool goes on doing jobs sent through it
    queues_b = QueuesClient(conn_b, ROOM)
    await queues_b.send_many(QUEUE, [{"n": i, "sleep": 0.01} for i in range(5, 10)])
    await drained(queues_b)
    pool = await PoolsClient(conn_b).get(POOL, room=ROOM)  # counts lag the queue: not asserted
    assert (pool.state, pool.backend) == ("running", "asyncio") and pool.replicas_running >= 1
    await conn_b.close()
