"""Three replicas run an every-second task on one PostgreSQL while one of them is killed twice:
each instant is enqueued exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshq.api.queues import QueuesClient
from meshq.api.rooms import RoomsClient
from meshq.api.scheduler import SchedulerClient
from meshq.scheduler.cron import iso_ms
from meshq.scheduler.model import SCHEDULED_AT_HEADER
from meshq.v1 import scheduler_pb2 as spb
from postgres.replicas import Replicas

pytestmark = pytest.mark.slow

ROOM, QUEUE = "ticks-room", "ticks"
PHASE = 4.0  # seconds between the steps of the story (the test runs ~6 phases)
SENT = (spb.RUN_OUTCOME_ENQUEUED, spb.RUN_OUTCOME_UNSPECIFIED)  # unspecified: still sending
SKIPPED = (spb.RUN_OUTCOME_SKIPPED_MISFIRE, spb.RUN_OUTCOME_SKIPPED_INACTIVE)


@pytest.fixture
async def replicas(tmp_path: Path, pg_url: str) -> AsyncIterator[Replicas]:
    group = Replicas(tmp_path, pg_url)
    try:
        yield group
    finally:
        await group.close()


async def test_three_replicas_fire_each_instant_once_while_one_dies_twice(
        replicas: Replicas) -> None:
    # Given three replicas and an every-second task added through the first
    a, b, c = await replicas.start(3)
    conn = a.connection(replicas.token)
    await RoomsClient(conn).create(ROOM)
    task = await SchedulerClient(conn).add(room=ROOM, queue=QUEUE, schedule="* * * * * *")
    await conn.close()

    # When the third replica is SIGKILLed and restarted, twice, while all of them run
    for _ in range(2):
        await asyncio.sleep(PHASE)
        await c.kill()
        await asyncio.sleep(PHASE / 2)
        await c.start()
    await asyncio.sleep(PHASE)

    # Then the ledger has one row per instant, with no gap, and each sent instant's message
    # is in the queue exactly once
    conn = b.connection(replicas.token)
    await SchedulerClient(conn).update(task.id, active=False)
    await asyncio.sleep(PHASE)  # every replica has seen the change (each reloads within ~1 s)
    runs = await SchedulerClient(conn).runs(task.id, limit=1000)
    instants = sorted(r.scheduled_unix_ms for r in runs)
    assert len(instants) >= 4 * PHASE  # the story lasts at least 5 phases
    assert len(set(instants)) == len(instants)
    assert instants == list(range(instants[0], instants[-1] + 1000, 1000)), "an instant is missing"
    sent = {iso_ms(r.scheduled_unix_ms) for r in runs if r.outcome in SENT}
    messages = await QueuesClient(conn, ROOM).receive_messages(QUEUE, max_messages=1000,
                                                               wait=False, auto_ack=True)
    seen = Counter(m.headers[SCHEDULED_AT_HEADER] for m in messages)
    assert [k for k, n in seen.items() if n > 1] == [], "an instant was enqueued twice"
    assert set(seen) == sent
    skipped = [r for r in runs if r.outcome not in SENT]
    assert all(r.outcome in SKIPPED for r in skipped), skipped
    await conn.close()
