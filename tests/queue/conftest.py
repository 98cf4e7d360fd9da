"""Engine fixtures: a fresh engine per test over each store, a fake clock, and restarts."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import QueueLimits
from meshq.queue.sqlite_store import SqliteQueueStore
from meshq.queue.store import QueueStore

T0 = 1_700_000_000.0


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """One engine over one store; ``restart`` builds a new engine over the same data."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "queues.db"
        self.memory = MemoryQueueStore()
        self.clock = FakeClock()
        self.limits = QueueLimits()
        self.engine: QueueEngine | None = None

    def new_store(self) -> QueueStore:
        return self.memory if self.kind == "memory" else SqliteQueueStore(self.path)

    async def start(self, *, real_clock: bool = False, **kwargs: Any) -> QueueEngine:
        kwargs.setdefault("limits", self.limits)
        clock = time.time if real_clock else self.clock
        self.engine = QueueEngine(self.new_store(), clock=clock, **kwargs)
        await self.engine.start()
        return self.engine

    async def restart(self, **kwargs: Any) -> QueueEngine:
        assert self.engine is not None
        await self.engine.stop()
        return await self.start(**kwargs)

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()

    def stored(self) -> dict[str, Any]:
        """Everything durable, as plain data (to show a rejected call wrote nothing)."""
        if self.kind == "memory":
            m = self.memory
            return {"rooms": dict(m.rooms), "queues": dict(m.queues),
                    "messages": {k: list(v) for k, v in m.messages.items()},
                    "dedup": dict(m.dedup)}
        with sqlite3.connect(self.path) as conn:
            return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())
                    for t in ("rooms", "queues", "messages", "dedup")}


@pytest.fixture(params=["memory", "sqlite"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(request.param, tmp_path)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
