"""Reading ahead of a cold run: the next takes find their rows read, and nothing is stale."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from meshq.queue import bodies
from meshq.queue.engine import QueueEngine
from meshq.queue.model import NewMessage
from meshq.queue.sqlite_store import SqliteQueueStore
from meshq.queue.store import StoredBody

R, Q = "room", "cold"


class CountingStore(SqliteQueueStore):
    """A real SQLite store that records the seqs of every body read (and can fail one)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads: list[list[int]] = []
        self.fail_read: int | None = None  # the index of the read to fail

    async def read(self, seqs: Sequence[int]) -> list[StoredBody]:
        self.reads.append(list(seqs))
        if self.fail_read == len(self.reads) - 1:
            raise OSError("disk read failed")
        return await super().read(seqs)


async def _cold_queue(path: Path, n: int) -> None:
    """``n`` messages {"i": 0..n-1} written, then the engine closed: all cold after a start."""
    e = QueueEngine(SqliteQueueStore(path))
    await e.start()
    await e.send(R, Q, [NewMessage(body=json.dumps({"i": i})) for i in range(n)], create=True)
    await e.close()


async def test_the_next_takes_rows_are_read_ahead_and_every_message_comes_once_in_order(
        tmp_path: Path) -> None:
    await _cold_queue(tmp_path / "q.db", 1000)
    store = CountingStore(tmp_path / "q.db")
    e = QueueEngine(store)
    await e.start()
    first = await e.receive(R, Q, max_messages=100, auto_ack=True)
    # The take read its own 100 rows, and started reading the next ones
    assert store.reads[0] == list(range(1, 101))
    assert store.reads[1][:100] == list(range(101, 201))
    second = await e.receive(R, Q, max_messages=100, auto_ack=True)
    # The second take's rows came from that read: no read of its own
    assert not any(r[:1] == [101] for r in store.reads[2:])
    rest = []
    while batch := await e.receive(R, Q, max_messages=100, auto_ack=True):
        rest.extend(batch)
    got = [json.loads(d.body)["i"] for d in (*first, *second, *rest)]
    assert got == list(range(1000))
    await e.close()


async def test_a_drain_voids_what_was_read_ahead(tmp_path: Path) -> None:
    await _cold_queue(tmp_path / "q.db", 500)
    store = CountingStore(tmp_path / "q.db")
    e = QueueEngine(store)
    await e.start()
    await e.receive(R, Q, max_messages=10, auto_ack=True)
    assert await e.drain_queue(R, Q) == 490
    await e.send(R, Q, [NewMessage(body='"after"')])
    assert [d.body for d in await e.receive(R, Q, max_messages=100)] == ['"after"']
    await e.close()


async def test_a_failed_read_ahead_costs_the_next_take_a_read_of_its_own(
        tmp_path: Path) -> None:
    await _cold_queue(tmp_path / "q.db", 300)
    store = CountingStore(tmp_path / "q.db")
    store.fail_read = 1  # the read ahead started by the first take
    e = QueueEngine(store)
    await e.start()
    first = await e.receive(R, Q, max_messages=100, auto_ack=True)
    second = await e.receive(R, Q, max_messages=100, auto_ack=True)
    assert [json.loads(d.body)["i"] for d in (*first, *second)] == list(range(200))
    assert e.healthy
    assert bodies.READ_AHEAD >= 100
    await e.close()
