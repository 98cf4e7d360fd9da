"""PostgreSQL going away and coming back: calls answer UNAVAILABLE, the pool's watcher reports
down then up, and the same backend serves again with no restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pgcluster import need_postgres

from meshq.core.errors import Unavailable
from meshq.postgres.cluster import PgCluster
from meshq.postgres.pool import Database, PoolSettings
from meshq.postgres.queue import PgQueueBackend
from meshq.queue.model import NewMessage

R, Q = "room", "jobs"


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    need_postgres()
    own = PgCluster().init()  # stopped mid-test: not the shared one
    own.start()
    try:
        yield own
    finally:
        own.cleanup()


async def test_unreachable_is_unavailable_and_recovers_without_restart(
        cluster: PgCluster) -> None:
    # Given a backend whose pool watches the database
    db = Database(PoolSettings(url=cluster.dsn, min_size=1, max_size=4))
    down, up = asyncio.Event(), asyncio.Event()
    db.on_down, db.on_up = down.set, up.set
    await db.start()
    backend = PgQueueBackend(db, replica="r1")
    await backend.start()
    try:
        [sent] = await backend.send(R, Q, [NewMessage(body=json.dumps(1))], create=True)
        # When PostgreSQL stops
        await asyncio.to_thread(cluster.stop, "immediate")
        # Then calls answer UNAVAILABLE and the watcher reports it down
        with pytest.raises(Unavailable):
            await backend.send(R, Q, [NewMessage(body=json.dumps(2))])
        async with asyncio.timeout(30):
            await down.wait()
        assert not backend.healthy
        # When it is back, Then the watcher reports it up and the same backend serves
        await asyncio.to_thread(cluster.start)
        async with asyncio.timeout(30):
            await up.wait()
        assert backend.healthy
        await backend.send(R, Q, [NewMessage(body=json.dumps(3))])
        got = await backend.receive(R, Q, max_messages=10, auto_ack=True)
        assert [json.loads(d.body) for d in got] == [1, 3]
        assert got[0].message_id == sent.message_id
    finally:
        await backend.close()
        await db.close()
