"""Commits that are cancelled, fail, or fail fatally: memory and disk never drift apart."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from conftest import FakeClock

from meshq.core.errors import Unavailable
from meshq.queue import sqlite_store
from meshq.queue import store as st
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import NackItem, NewMessage, QueueOptions
from meshq.queue.sqlite_store import SqliteQueueStore

R, Q = "room", "jobs"


async def _held_writer(store: SqliteQueueStore) -> threading.Event:
    """Block the writer thread until the returned event is set."""
    gate = threading.Event()
    store._inbox.put(lambda: None if gate.wait() else None)
    return gate


async def test_a_send_cancelled_during_its_commit_is_still_placed(tmp_path: Path) -> None:
    store = SqliteQueueStore(tmp_path / "q.db")
    e = QueueEngine(store)
    await e.start()
    try:
        await e.open_queue(R, Q)
        gate = await _held_writer(store)
        first = asyncio.create_task(e.send(R, Q, [NewMessage(body="1", dedup_id="d1")]))
        await asyncio.sleep(0)  # the send submits its batch and waits on the commit
        await asyncio.sleep(0)
        first.cancel()
        try:
            await first
        except asyncio.CancelledError:
            pass
        gate.set()
        async with asyncio.timeout(5):
            [again] = await e.send(R, Q, [NewMessage(body="1", dedup_id="d1")])
        assert again.duplicate
        assert (await e.queue_info(R, Q)).depth == 1
        [d] = await e.receive(R, Q)
        assert d.message_id == again.message_id
    finally:
        await e.close()


class FailingStore(MemoryQueueStore):
    """A memory store whose next ``fail`` commits fail (applying nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = 0

    def submit(self, ops: list[st.Op]) -> asyncio.Future[None]:
        if not self.fail:
            return super().submit(ops)
        self.fail -= 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(sqlite3.OperationalError("disk I/O error"))
        return future


async def test_a_failed_settle_commit_stops_the_engine_until_restart() -> None:
    store = FailingStore()
    e = QueueEngine(store)
    await e.start()
    [sent] = await e.send(R, Q, [NewMessage(body="1")], create=True)
    [d] = await e.receive(R, Q)
    store.fail = 1
    with pytest.raises(Unavailable):
        await e.ack(R, Q, [d.lease_token])
    assert not e.healthy
    for call in (lambda: e.message_state(R, Q, sent.message_id), lambda: e.queue_info(R, Q),
                 lambda: e.list_queues(R), e.list_rooms):
        with pytest.raises(Unavailable, match="restart the server"):
            await call()
    for coro in (e.ack(R, Q, [d.lease_token]), e.receive(R, Q),
                 e.send(R, Q, [NewMessage(body="2")]), e.drain_queue(R, Q)):
        with pytest.raises(Unavailable, match="restart the server"):
            await coro
    await e.close()
    e = QueueEngine(store)  # a restart reloads what is on disk: the ack never happened
    await e.start()
    assert e.healthy
    [again] = await e.receive(R, Q)
    assert again.message_id == sent.message_id
    await e.close()


@pytest.mark.parametrize("op", ["auto_ack", "drain", "delete", "redrive", "send"])
async def test_every_kind_of_failed_commit_is_fatal(op: str) -> None:
    store = FailingStore()
    e = QueueEngine(store)
    await e.start()
    await e.open_queue(R, Q, QueueOptions(max_deliveries=1))
    await e.send(R, Q, [NewMessage(body="1"), NewMessage(body="2")])
    [d] = await e.receive(R, Q)
    await e.nack(R, Q, [NackItem(lease_token=d.lease_token)])  # one dead letter to redrive
    store.fail = 1
    calls = {"auto_ack": lambda: e.receive(R, Q, auto_ack=True),
             "drain": lambda: e.drain_queue(R, Q), "delete": lambda: e.delete_queue(R, Q),
             "redrive": lambda: e.redrive(R, Q), "send": lambda: e.send(R, Q, [NewMessage(body="3")])}
    with pytest.raises(Unavailable):
        await calls[op]()
    assert not e.healthy
    with pytest.raises(Unavailable, match="restart the server"):
        await e.receive(R, Q)
    await e.close()


async def test_a_failed_background_commit_is_fatal_too() -> None:
    clock = FakeClock()
    store = FailingStore()
    e = QueueEngine(store, clock=clock)
    await e.start()
    await e.send(R, Q, [NewMessage(body="1")], create=True)
    await e.receive(R, Q, lease_seconds=1)
    store.fail = 1
    clock.advance(2)
    e.process_due()  # the lease expires; its write fails in the background
    await asyncio.sleep(0)
    assert not e.healthy
    with pytest.raises(Unavailable, match="restart the server"):
        await e.receive(R, Q)
    await e.close()


async def test_a_queue_whose_creation_failed_is_not_kept() -> None:
    store = FailingStore()
    e = QueueEngine(store)
    await e.start()
    store.fail = 1
    with pytest.raises(Unavailable):
        await e.send(R, "new", [NewMessage(body="1")], create=True)
    assert e.registry.find(R, "new") is None and R not in e.registry.rooms
    await e.close()
    e = QueueEngine(store)
    await e.start()
    assert e.healthy and await e.list_rooms() == []
    await e.close()


async def test_restore_repairs_messages_and_queues_without_their_parent_rows(
        tmp_path: Path) -> None:
    store = SqliteQueueStore(tmp_path / "q.db")
    await store.load(0.0)
    await store.submit([
        st.PutQueue("lost-room", "q1", 3, 60.0, False, 1.0),
        st.PutMessages(R, "lost-queue", 1.0, [("m1", 7, "1", "{}", 0.0)]),
        st.PutDedup(R, "lost-queue", "d", "m1", 4e9),
    ])
    await store.close()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    assert (await e.queue_info("lost-room", "q1")).options.max_deliveries == 3
    [d] = await e.receive(R, "lost-queue", auto_ack=True)
    assert d.message_id == "m1"
    [dup] = await e.send(R, "lost-queue", [NewMessage(body="1", dedup_id="d")])
    assert dup.duplicate
    await e.close()
    repaired = await SqliteQueueStore(tmp_path / "q.db").load(0.0)
    assert sorted(r for r, _ in repaired.rooms) == ["lost-room", R]
    assert sorted((q.room, q.name) for q in repaired.queues) == [("lost-room", "q1"),
                                                                  (R, "lost-queue")]


async def test_a_background_write_never_lands_after_a_later_delete(tmp_path: Path) -> None:
    clock = FakeClock()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"), clock=clock)
    await e.start()
    await e.open_queue(R, Q, QueueOptions(max_deliveries=1))
    await e.send(R, Q, [NewMessage(body="1")])
    await e.receive(R, Q, lease_seconds=1)
    clock.advance(2)
    e.process_due()  # the lease expires: the message moves to jobs.dlq, written in the background
    await e.delete_room(R, force=True)
    await e.close()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"), clock=clock)
    await e.start()
    assert await e.list_rooms() == []
    await e.close()


async def test_a_non_sqlite_error_fails_the_batch_and_the_writer_lives_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sqlite_store._apply
    fail = [1]

    def flaky(conn: sqlite3.Connection, ops: list[st.Op]) -> None:
        if fail[0]:
            fail[0] -= 1
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        real(conn, ops)

    monkeypatch.setattr(sqlite_store, "_apply", flaky)
    store = SqliteQueueStore(tmp_path / "q.db")
    await store.load(0.0)
    async with asyncio.timeout(5):
        with pytest.raises(Unavailable):
            await store.submit([st.PutRoom("a", 1.0)])
        await store.submit([st.PutRoom("b", 2.0)])
    await store.close()
    assert (await SqliteQueueStore(tmp_path / "q.db").load(0.0)).rooms == [("b", 2.0)]


async def test_a_dead_writer_fails_every_waiter_and_refuses_new_batches(tmp_path: Path) -> None:
    store = SqliteQueueStore(tmp_path / "q.db")
    await store.load(0.0)
    gate = await _held_writer(store)

    def crash() -> None:
        raise RuntimeError("writer bug")

    store._inbox.put(crash)
    waiting = store.submit([st.PutRoom("a", 1.0)])
    await asyncio.sleep(0)  # hands the batch over behind the crash
    gate.set()
    async with asyncio.timeout(5):
        with pytest.raises(Unavailable):
            await waiting
    with pytest.raises(Unavailable):
        store.submit([st.PutRoom("b", 2.0)])
    await store.close()
