"""One asyncpg connection pool per replica, and what "PostgreSQL is unreachable" means.

Every statement goes through ``Database.tx()`` / ``Database.conn()``: a failure to reach
PostgreSQL (refused, reset, admin shutdown, failover) becomes ``Unavailable`` — the caller
answers UNAVAILABLE, and the client may retry. Nothing is cached across such a failure, so
there is nothing to repair: asyncpg drops a broken connection and the next acquire opens a
new one. A watcher pings every ``HEALTH_INTERVAL`` and reports up / down transitions (health
NOT_SERVING while down, SERVING again once a ping succeeds), with no restart.

A ``Unavailable`` raised at COMMIT means the outcome is unknown to us: the transaction may
have committed. The callers' contracts allow that (a Send may then be stored although the
client saw UNAVAILABLE; an ack may have happened although the client will retry it, and a
repeat ack of a settled token is harmlessly STALE).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from meshq.core.errors import Unavailable
from meshq.core.tasks import cancel_and_wait
from meshq.postgres import schema

logger = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0  # seconds between pings of the watcher
CONNECT_TIMEOUT = 5.0  # seconds to open one connection
COMMAND_TIMEOUT = 30.0  # seconds for one statement; longer means the server is not answering
START_RETRY_SECONDS = 60.0  # how long start() keeps trying to reach PostgreSQL


@dataclass(frozen=True, kw_only=True)
class PoolSettings:
    """How a replica connects."""

    url: str
    """postgresql://user:password@host:port/database (libpq URL syntax)."""
    min_size: int = 2
    """Connections opened at start and kept."""
    max_size: int = 20
    """Most connections this replica holds (sizing: docs/postgres.md)."""


# Errors that mean "the database is not reachable right now" (as opposed to a bug or a
# constraint violation): connection-level failures and SQLSTATE classes 08 and 57.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a demoted primary during failover
)


_PING_FAILURES: tuple[type[BaseException], ...] = (Unavailable, *_UNREACHABLE)


def unreachable(err: BaseException) -> bool:
    """True when ``err`` says PostgreSQL could not be reached (retryable)."""
    return isinstance(err, _UNREACHABLE)


class Database:
    """The pool, the schema check at start, and the up / down state."""

    def __init__(self, settings: PoolSettings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._watch: asyncio.Task[None] | None = None
        self._up = True
        self.on_down: Callable[[], None] = lambda: None
        """Called when a ping fails after the last one succeeded."""
        self.on_up: Callable[[], None] = lambda: None
        """Called when a ping succeeds after the last one failed."""

    @property
    def up(self) -> bool:
        """False while the watcher's last ping failed."""
        return self._up

    async def start(self, *, retry_seconds: float = START_RETRY_SECONDS,
                    watch: bool = True) -> None:
        """Open the pool and apply migrations (under an advisory lock); retry a database
        that is not up yet for ``retry_seconds``, then fail with ``Unavailable``. With
        ``watch``, a background task pings and reports up / down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + retry_seconds
        while True:
            try:
                self._pool = await asyncpg.create_pool(
                    self.settings.url, min_size=self.settings.min_size,
                    max_size=self.settings.max_size, timeout=CONNECT_TIMEOUT,
                    command_timeout=COMMAND_TIMEOUT, reset=_keep_session)
                async with self._pool.acquire() as conn:
                    await schema.migrate(conn)
                break
            except _UNREACHABLE as err:
                if self._pool is not None:
                    self._pool.terminate()
                    self._pool = None
                if loop.time() > deadline:
                    raise Unavailable(f"cannot reach PostgreSQL: {err}") from err
                logger.warning("PostgreSQL not reachable yet (%s); retrying", err)
                await asyncio.sleep(1.0)
        if watch:
            self._watch = asyncio.create_task(self._watcher(), name="meshq-postgres-health")

    async def close(self) -> None:
        """Stop the watcher and close every connection. Safe to call twice."""
        await cancel_and_wait(self._watch)
        self._watch = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except _UNREACHABLE:
                pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise Unavailable("the PostgreSQL pool is not open")
        return self._pool

    @contextlib.asynccontextmanager
    async def conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, outside a transaction (each statement commits alone)."""
        try:
            async with self.pool.acquire() as conn:
                yield conn
        except _UNREACHABLE as err:
            raise Unavailable(f"PostgreSQL is unreachable: {err}") from err

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, committed when the block ends."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn
        except _UNREACHABLE as err:
            raise Unavailable(f"PostgreSQL is unreachable: {err}") from err

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                await conn.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)
            return True
        except _PING_FAILURES:
            return False

    async def _watcher(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            ok = await self.ping()
            if ok != self._up:
                self._up = ok
                logger.warning("PostgreSQL is %s", "reachable again" if ok else "unreachable")
                _call(self.on_up if ok else self.on_down)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset when a connection goes back to the pool: meshq leaves no session state
    behind (its settings and advisory locks are transaction-scoped; LISTEN and the exporter
    lock use connections of their own). asyncpg's default reset costs a round trip on every
    release, about half a one-statement Send."""


def _call(callback: Callable[[], Any]) -> None:
    try:
        callback()
    except Exception:
        logger.exception("a PostgreSQL health callback failed")
