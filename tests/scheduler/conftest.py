"""Scheduler test fixtures: a real queue engine in process, an injected clock, helpers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from meshq.api.scheduler import SchedulerClient
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.scheduler.engine import SchedulerEngine
from meshq.scheduler.enqueuer import EngineEnqueuer, Outgoing
from meshq.scheduler.memory_store import MemoryScheduleStore
from meshq.scheduler.sqlite_store import SqliteScheduleStore
from meshq.scheduler.store import ScheduleStore


class FakeClock:
    """Wall time the test sets; the scheduler never reads the real clock through it."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


class Crash(BaseException):
    """Stands for SIGKILL inside a send: nothing after it runs."""


class GatedEnqueuer(EngineEnqueuer):
    """The real in-process enqueuer, with hooks at the edge: hold a send, crash around it."""

    def __init__(self, engine: QueueEngine) -> None:
        super().__init__(engine)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.crash_before = False
        self.crash_after = False
        self.fail_next: Exception | None = None
        self.sends = 0

    async def send_many(self, room: str, queue: str, messages: Sequence[Outgoing]) -> list[str]:
        self.entered.set()
        await self.release.wait()
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err
        if self.crash_before:
            raise Crash()
        ids = await super().send_many(room, queue, messages)
        self.sends += len(messages)
        if self.crash_after:
            raise Crash()
        return ids


@pytest.fixture
async def client(server: Any) -> AsyncIterator[SchedulerClient]:
    """A scheduler client on the suite's shared real server."""
    conn = server.connection()
    yield SchedulerClient(conn)
    await conn.close()


@pytest.fixture
async def queues() -> AsyncIterator[QueueEngine]:
    engine = QueueEngine(MemoryQueueStore())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def room(queues: QueueEngine) -> str:
    name = "r-" + uuid.uuid4().hex[:10]
    await queues.create_room(name)
    return name


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = ""
    opened: list[ScheduleStore] = []
    if request.param == "postgres":
        from pgcluster import schema_url

        url = schema_url()

    def make() -> ScheduleStore:
        if request.param == "memory":
            return MemoryScheduleStore()
        if request.param == "postgres":
            from meshq.postgres.schedule_store import PgScheduleStore

            opened.append(PgScheduleStore(url))
            return opened[-1]
        return SqliteScheduleStore(tmp_path / "scheduler.db")

    yield make
    for store in opened:
        store.close()


async def new_engine(store: ScheduleStore, enqueuer: EngineEnqueuer, clock: FakeClock,
                     **kwargs: object) -> SchedulerEngine:
    engine = SchedulerEngine(store, enqueuer, clock=clock, run_loop=False, **kwargs)  # type: ignore[arg-type]
    await engine.start()
    return engine
