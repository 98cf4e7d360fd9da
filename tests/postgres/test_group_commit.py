"""Group commit of plain Sends: concurrent Sends of one queue share one statement and commit,
and each still replies only after the commit that holds its messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from meshq.core.errors import FailedPrecondition, Unavailable
from meshq.postgres.group_commit import GroupCommit
from meshq.postgres.pool import Database, PoolSettings
from meshq.postgres.queue import PgQueueBackend
from meshq.queue.model import NewMessage

R, Q = "room", "jobs"


class Recorder:
    """A commit function that records the groups it was given and can be held or failed."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: BaseException | None = None

    async def commit(self, key: str, items: list[int]) -> list[str]:
        self.groups.append(items)
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [f"{key}:{i}" for i in items]


async def test_callers_of_one_iteration_share_one_commit_and_get_their_own_result() -> None:
    # Given a group commit over a recording commit function
    rec = Recorder()
    group: GroupCommit[str, int, str] = GroupCommit(rec.commit)
    # When ten callers submit in the same event-loop iteration
    got = await asyncio.gather(*(group.submit("q", i) for i in range(10)))
    # Then one commit carried them all, in order, and each got its own result
    assert rec.groups == [list(range(10))]
    assert got == [f"q:{i}" for i in range(10)]


async def test_callers_arriving_during_a_commit_share_the_next_one() -> None:
    # Given one commit in flight (held) and a concurrency of one
    rec = Recorder()
    group: GroupCommit[str, int, str] = GroupCommit(rec.commit, concurrency=1)
    rec.gate.clear()
    first = asyncio.ensure_future(group.submit("q", 0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert rec.groups == [[0]]
    # When five more arrive while it is in flight, and it then commits
    later = [asyncio.ensure_future(group.submit("q", i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    assert not first.done()  # no reply before the commit
    rec.gate.set()
    # Then the five share the next commit
    assert await first == "q:0"
    assert await asyncio.gather(*later) == [f"q:{i}" for i in range(1, 6)]
    assert rec.groups == [[0], [1, 2, 3, 4, 5]]


async def test_keys_commit_apart_and_a_failed_commit_fails_its_whole_group() -> None:
    # Given a commit function that fails
    rec = Recorder()
    rec.fail = Unavailable("gone")
    group: GroupCommit[str, int, str] = GroupCommit(rec.commit)
    # When callers of two keys submit together
    got = await asyncio.gather(group.submit("a", 1), group.submit("b", 2),
                               group.submit("a", 3), return_exceptions=True)
    # Then each key had its own commit and every caller got the error
    assert sorted(rec.groups) == [[1, 3], [2]]
    assert all(isinstance(g, Unavailable) for g in got)
    # And the next caller starts a new group that can succeed
    rec.fail = None
    assert await group.submit("a", 4) == "a:4"


async def test_a_caller_that_gives_up_does_not_stop_the_commit() -> None:
    # Given a held commit of two callers
    rec = Recorder()
    group: GroupCommit[str, int, str] = GroupCommit(rec.commit)
    rec.gate.clear()
    quitter = asyncio.ensure_future(group.submit("q", 1))
    stayer = asyncio.ensure_future(group.submit("q", 2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # When one caller is cancelled, and the commit then completes
    quitter.cancel()
    rec.gate.set()
    # Then the other still gets its result from the same commit
    assert await stayer == "q:2"
    assert rec.groups == [[1, 2]]
    assert quitter.cancelled()


@pytest.fixture
async def backend(pg_url: str) -> AsyncIterator[PgQueueBackend]:
    db = Database(PoolSettings(url=pg_url, min_size=1, max_size=4))
    await db.start(watch=False)
    engine = PgQueueBackend(db, replica="r1")
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
        await db.close()


async def test_concurrent_sends_are_durable_at_reply_and_delivered_in_call_order(
        backend: PgQueueBackend, pg_url: str) -> None:
    # Given an open queue
    await backend.send(R, Q, [NewMessage(body=json.dumps(-1))], create=True)
    await backend.receive(R, Q, auto_ack=True)
    # When 64 single-message sends run at once (grouped: the pool has only 4 connections)
    results = await asyncio.gather(*(backend.send(R, Q, [NewMessage(body=json.dumps(i))])
                                     for i in range(64)))
    # Then every reply names its own message, each already committed (read by another
    # session right after the replies)
    ids = [r.message_id for [r] in results]
    assert len(set(ids)) == 64
    conn = await asyncpg.connect(pg_url)
    try:
        stored = await conn.fetch("SELECT id, body, enqueued_at FROM q_messages "
                                  "ORDER BY enqueued_at, seq")
    finally:
        await conn.close()
    assert [r["id"] for r in stored] == ids
    # And they are delivered in the order the sends were called
    got = await backend.receive(R, Q, max_messages=100, auto_ack=True)
    assert [json.loads(d.body) for d in got] == list(range(64))
    assert [d.message_id for d in got] == ids


async def test_concurrent_sends_to_a_closed_queue_are_all_refused(
        backend: PgQueueBackend) -> None:
    # Given a closed queue
    await backend.send(R, Q, [NewMessage(body="1")], create=True)
    await backend.close_queue(R, Q)
    # When several sends run at once, Then each is refused and nothing is stored
    got = await asyncio.gather(*(backend.send(R, Q, [NewMessage(body="2")]) for _ in range(8)),
                               return_exceptions=True)
    assert all(isinstance(g, FailedPrecondition) for g in got)
    assert (await backend.queue_info(R, Q)).depth == 1


async def test_a_grouped_send_is_handed_to_a_parked_local_consumer(
        backend: PgQueueBackend) -> None:
    # Given a consumer parked on this replica with room for 3
    await backend.send(R, Q, [NewMessage(body="0")], create=True)
    await backend.receive(R, Q, auto_ack=True)
    sub = await backend.subscribe(R, Q, max_in_flight=3)
    try:
        waiting = asyncio.ensure_future(sub.next_batch())
        await asyncio.sleep(0.05)
        # When five sends run at once (one group)
        sent = await asyncio.gather(*(backend.send(R, Q, [NewMessage(body=str(i))])
                                      for i in range(5)))
        # Then the consumer gets the first three, leased, and the rest stay ready
        batch = await asyncio.wait_for(waiting, 5)
        assert [d.body for d in batch] == ["0", "1", "2"]
        assert [d.message_id for d in batch] == [r.message_id for [r] in sent[:3]]
        assert all(d.lease_token for d in batch)
        rest = await backend.receive(R, Q, max_messages=10, auto_ack=True)
        assert [d.body for d in rest] == ["3", "4"]
        assert [o.name for o in await backend.ack(R, Q, [d.lease_token for d in batch])] == \
            ["OK"] * 3
    finally:
        await sub.close()
