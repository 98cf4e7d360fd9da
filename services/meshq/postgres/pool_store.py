"""Pools' desired state in PostgreSQL, and the lease that makes one replica their supervisor.

``PgPoolStore`` keeps what the pools service stores (its ``PoolStore`` seam: ``save``,
``delete``, ``load``, ``close``; blocking calls) in ``pool_specs`` (schema migration 4): the pool's spec as the
pools service encodes it (proto bytes) and its token scope as JSON, by (room, name). The
encoding stays the pools service's: the store is given its ``encode`` / ``decode``.

``PgSupervisorLease`` answers "am I the supervisor?" (the pools service's ``SupervisorLease``)
with a session advisory lock held on a connection of its own: exactly one replica holds it; when
that replica dies its session ends, the lock is free, and the next replica to ask takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from meshq.core.tasks import cancel_and_wait
from meshq.postgres.loop_thread import LoopThread
from meshq.postgres.pool import CONNECT_TIMEOUT, Database, PoolSettings

logger = logging.getLogger(__name__)

SUPERVISOR_LOCK = 0x6D65_7368_7100_0003  # "meshq" + 3: the pools' supervisor lease



class PgPoolStore:
    """``PoolStore`` over PostgreSQL; ``encode(config) -> (spec bytes, scope json)``,
    ``decode(spec bytes) -> config`` and ``key(config) -> (room, name)`` are the pools
    service's."""

    def __init__(self, url: str, *, encode: Callable[[Any], tuple[bytes, str]],
                 decode: Callable[[bytes], Any], key: Callable[[Any], tuple[str, str]]) -> None:
        self._encode, self._decode, self._key = encode, decode, key
        self._thread = LoopThread("meshq-pg-pools")
        self._db = Database(PoolSettings(url=url, min_size=1, max_size=2))
        try:
            self._thread.run(self._db.start(watch=False))
        except BaseException:
            self._thread.stop()
            raise

    def save(self, config: Any) -> None:
        spec, scope = self._encode(config)
        room, name = self._key(config)

        async def go() -> None:
            async with self._db.conn() as conn:
                await conn.execute(
                    "INSERT INTO pool_specs (room, name, spec, token_scope, updated_at) VALUES "
                    "($1, $2, $3, $4, $5) ON CONFLICT (room, name) DO UPDATE SET spec = "
                    "EXCLUDED.spec, token_scope = EXCLUDED.token_scope, updated_at = "
                    "EXCLUDED.updated_at", room, name, spec, scope, time.time())
        self._thread.run(go())

    def delete(self, room: str, name: str) -> None:
        async def go() -> None:
            async with self._db.conn() as conn:
                await conn.execute("DELETE FROM pool_specs WHERE room=$1 AND name=$2",
                                   room, name)
        self._thread.run(go())

    def load(self) -> list[Any]:
        """Every stored pool, by room and name; a row that no longer decodes is skipped with a
        log line (as the embedded store does)."""
        async def go() -> list[asyncpg.Record]:
            async with self._db.conn() as conn:
                return list(await conn.fetch(
                    "SELECT room, name, spec FROM pool_specs ORDER BY room, name"))
        out = []
        for row in self._thread.run(go()):
            try:
                out.append(self._decode(bytes(row["spec"])))
            except Exception as err:
                logger.warning("stored pool %s/%s skipped: %s", row["room"], row["name"], err)
        return out

    def close(self) -> None:
        try:
            self._thread.run(self._db.close())
        finally:
            self._thread.stop()


TAKEOVER_SECONDS = 5.0  # how often a replica that is not the supervisor asks for the lease


class PgSupervisorLease:
    """A session advisory lock on a dedicated connection: held until that session ends.

    ``on_acquired(callback)`` starts asking every ``poll_seconds``; when this replica takes
    the lease over (the holder died), ``callback`` runs: the pools service re-creates the stored
    pools then.
    """

    def __init__(self, url: str, *, poll_seconds: float = TAKEOVER_SECONDS) -> None:
        self._url = url
        self._poll_seconds = poll_seconds
        self._conn: asyncpg.Connection | None = None
        self._held = False
        self._callbacks: list[Callable[[], Awaitable[Any]]] = []
        self._poller: asyncio.Task[None] | None = None

    def on_acquired(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Run ``callback`` each time this replica takes the lease over from another."""
        self._callbacks.append(callback)
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(
                self._poll(), name="meshq-pools-lease")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            was = self._held
            if await self.held() and not was:
                logger.info("this replica now supervises the pools")
                for callback in self._callbacks:
                    try:
                        await callback()
                    except Exception:
                        logger.exception("taking the pools over failed")

    async def held(self) -> bool:
        """True while this replica holds the lease (taking it when it is free)."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
                self._held = False
            if self._held:
                await self._conn.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)  # our session
                return True
            self._held = bool(await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", SUPERVISOR_LOCK, timeout=CONNECT_TIMEOUT))
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            logger.warning("the pools' supervisor lease is unknown (%s): not supervising", err)
            await self.close()
            return False
        return self._held

    async def close(self) -> None:
        """Stop asking and give the lease up (the session ends). Safe to call twice."""
        await cancel_and_wait(self._poller)
        self._poller = None
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2.0)
