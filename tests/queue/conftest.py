"""Backend fixtures: a fresh backend per test for every registered backend, a fake clock,
restarts.

``BACKENDS`` lists a factory per backend: tests taking the ``h`` fixture (the contract suite,
validation, the fast paths, the wake-ups) run once for each; the contract suite also runs
over the embedded engine's ``VARIANTS``. A backend adds itself with a
``Harness`` subclass that builds its ``QueueBackend`` on the harness's clock and implements
``start`` / ``stored`` / ``advance`` for it; a backend that needs a tool missing here skips
its own parameter (never in CI).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from meshq.queue.backend import QueueBackend, SettleByParts
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import QueueLimits
from meshq.queue.sqlite_store import SqliteQueueStore
from meshq.queue.sqlite_tombstones import LIVE
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
    """One backend over one data set; ``restart`` builds a new backend over the same data.

    This base is the embedded engine over the in-memory or the SQLite store (``kind``).
    """

    def __init__(self, kind: str, tmp_path: Path, *,
                 engine_class: type[QueueEngine] = QueueEngine, **engine_options: Any) -> None:
        self.kind = kind
        self.engine_class = engine_class
        self.engine_options = engine_options
        self.path = tmp_path / "queues.db"
        self.memory = MemoryQueueStore()
        self.clock = FakeClock()
        self.limits = QueueLimits()
        self.engine: QueueBackend | None = None

    def new_store(self) -> QueueStore:
        return self.memory if self.kind == "memory" else SqliteQueueStore(self.path)

    async def start(self, *, real_clock: bool = False, **kwargs: Any) -> QueueBackend:
        """A started backend; ``kwargs`` are constructor options (``limits=``...)."""
        kwargs = {"limits": self.limits, **self.engine_options, **kwargs}
        clock = time.time if real_clock else self.clock
        engine = self.engine_class(self.new_store(), clock=clock, **kwargs)
        await engine.start()
        self.engine = engine
        return engine

    async def restart(self, **kwargs: Any) -> QueueBackend:
        assert self.engine is not None
        await self.engine.close()
        return await self.start(**kwargs)

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.close()

    def advance(self, seconds: float) -> None:
        """Move the fake clock and apply every deadline now passed (expiries, delays), as
        the backend's own timer would have."""
        self.clock.advance(seconds)
        assert isinstance(self.engine, QueueEngine)
        self.engine.process_due()

    def stored(self) -> dict[str, Any]:
        """Everything durable, as plain data (to show a rejected call wrote nothing)."""
        if self.kind == "memory":
            m = self.memory
            return {"rooms": dict(m.rooms), "queues": dict(m.queues),
                    "messages": {k: list(v) for k, v in m.messages.items()},
                    "dedup": dict(m.dedup)}
        queries = {"rooms": "SELECT * FROM rooms", "queues": "SELECT * FROM queues",
                   # tombstoned rows are deleted, if not yet purged
                   "messages": f"SELECT * FROM messages WHERE {LIVE}",
                   "dedup": "SELECT room, queue, dedup_id, message_id, expires_at FROM dedup_log"}
        with sqlite3.connect(self.path) as conn:
            return {t: sorted(conn.execute(sql).fetchall()) for t, sql in queries.items()}


class SettlingByParts(SettleByParts, QueueEngine):
    """The embedded engine with the default ``settle`` (``settle_by_parts``), as a backend
    that implements only ``ack`` / ``nack`` / ``extend`` gets it."""


class PgHarness(Harness):
    """The PostgreSQL backend over a fresh schema of the session's throwaway cluster
    (tests/pgcluster.py). A restart reopens the pool under the same replica name."""

    def __init__(self, tmp_path: Path) -> None:
        from pgcluster import schema_url

        super().__init__("postgres", tmp_path)
        self.url = schema_url()
        self.db: Any = None

    async def start(self, *, real_clock: bool = False, **kwargs: Any) -> QueueBackend:
        from meshq.postgres.pool import Database, PoolSettings
        from meshq.postgres.queue import PgQueueBackend

        kwargs.setdefault("limits", self.limits)
        clock = time.time if real_clock else self.clock
        self.db = Database(PoolSettings(url=self.url, min_size=1, max_size=4))
        await self.db.start(watch=False)
        engine = PgQueueBackend(self.db, replica="test-replica", clock=clock, **kwargs)
        await engine.start()
        self.engine = engine
        return engine

    async def stop(self) -> None:
        await super().stop()
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def restart(self, **kwargs: Any) -> QueueBackend:
        await self.stop()
        return await self.start(**kwargs)

    def advance(self, seconds: float) -> None:
        """Move the clock and return expired leases now, as a replica's sweeper would (on a
        connection of its own, from a thread: ``advance`` is synchronous)."""
        from meshq.postgres import leases

        self.clock.advance(seconds)

        async def sweep(conn: Any) -> None:
            while True:
                async with conn.transaction():
                    done = await leases.expire(conn, self.clock())
                if sum(n for n, _ in done.values()) < leases.SWEEP_BATCH:
                    return

        _in_thread(self.url, sweep)

    def stored(self) -> dict[str, Any]:
        async def read(conn: Any) -> dict[str, Any]:
            return {t: sorted(tuple(r) for r in await conn.fetch(f"SELECT * FROM q_{t}"))
                    for t in ("rooms", "queues", "messages", "dedup")}

        return _in_thread(self.url, read)


def _in_thread(url: str, body: Callable[[Any], Any]) -> Any:
    """Run ``body(connection)`` on a new connection in a thread with its own event loop."""
    import asyncio
    import threading

    import asyncpg

    out: dict[str, Any] = {}

    async def main() -> None:
        conn = await asyncpg.connect(url)
        try:
            out["value"] = await body(conn)
        finally:
            await conn.close()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as err:  # re-raised in the caller
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


BACKENDS: dict[str, Callable[[Path], Harness]] = {
    "memory": lambda tmp_path: Harness("memory", tmp_path),
    "sqlite": lambda tmp_path: Harness("sqlite", tmp_path),
    "postgres": PgHarness,
}
"""Every backend the suite runs against: name -> harness factory (given the test's tmp dir)."""

VARIANTS: dict[str, Callable[[Path], Harness]] = {
    # No body budget: every message is cold, its body read from the store at delivery.
    "sqlite-cold": lambda tmp_path: Harness("sqlite", tmp_path, body_budget=0),
    # settle through the default a backend gets from its ack / nack / extend (SettleByParts)
    "sqlite-settle-by-parts": lambda tmp_path: Harness("sqlite", tmp_path,
                                                       engine_class=SettlingByParts),
}
"""Configurations of the embedded engine the contract suite runs against too (only the
contract: e.g. the cold path needs a store read per delivery, not just an event)."""


async def open_harness(factory: Callable[[Path], Harness], tmp_path: Path
                       ) -> AsyncIterator[Harness]:
    harness = factory(tmp_path)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture(params=list(BACKENDS))
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(BACKENDS[request.param], tmp_path):
        yield harness
