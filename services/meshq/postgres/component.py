"""Wiring of the PostgreSQL tier into a server process (``--database-url``).

``DatabaseComponent`` is started before every other component: it opens this replica's pool
(applying migrations under their lock) and reports PostgreSQL's reachability to the health
service: NOT_SERVING for every hosted service while it does not answer, SERVING again once
it does. The ``*_for`` factories build the PostgreSQL implementation of each store over the
shared pool; the components call them when ``ctx.database`` is set.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from meshq.postgres.pool import Database, PoolSettings
from meshq.server.context import StackContext
from meshq.server.handlers import ServiceRegistry

logger = logging.getLogger(__name__)

def replica_name(ctx: StackContext) -> str:
    """This replica's stable name (``--replica-id``; default host name and data dir): the
    owner of the leases it hands out. Two running replicas must never share one."""
    given = ctx.settings.database.replica_id or ""
    return given or f"{socket.gethostname()}:{ctx.data_dir.resolve()}"


def database_of(ctx: StackContext) -> Database:
    db = ctx.database
    if not isinstance(db, Database):
        raise RuntimeError("the PostgreSQL component must be built first")
    return db


class DatabaseComponent:
    """Owns the pool of this replica; hosts no gRPC service of its own."""

    service_names: tuple[str, ...] = ()

    def __init__(self, db: Database, ctx: StackContext) -> None:
        self.db = db
        self._ctx = ctx
        self._watched: tuple[str, ...] = ()

    def watch(self, names: Sequence[str]) -> None:
        """The service names whose health follows PostgreSQL's reachability."""
        self._watched = tuple(names)
        self.db.on_down = lambda: self._ctx.mark_not_serving(self._watched)
        self.db.on_up = lambda: self._mark_serving()

    def _mark_serving(self) -> None:
        mark = getattr(self._ctx, "mark_serving", None)
        if mark is not None:
            mark(self._watched)

    async def start(self) -> None:
        await self.db.start()
        logger.info("PostgreSQL tier: replica %s", replica_name(self._ctx))

    def register(self, server: ServiceRegistry) -> None:
        """No servicer."""

    async def stop(self) -> None:
        lease = self._ctx.settings.pools.lease
        close = getattr(lease, "close", None)
        if close is not None:  # the supervisor lease goes with this replica
            await close()
        await self.db.close()


def build_database(ctx: StackContext) -> DatabaseComponent:
    """The pool for ``ctx.settings.database.url``, shared by the components built after."""
    database = ctx.settings.database
    settings = PoolSettings(url=str(database.url), max_size=database.pool_size)
    db = Database(settings)
    ctx.database = db
    # Pools' desired state in the database; one replica supervises them (docs/postgres.md).
    pools = ctx.settings.pools
    ctx.settings = replace(ctx.settings, pools=replace(
        pools,
        store=pools.store if pools.store is not None else _LazyPoolStore(settings.url),
        lease=pools.lease if pools.lease is not None else _supervisor_lease(settings.url)))
    return DatabaseComponent(db, ctx)


def _supervisor_lease(url: str) -> Any:
    from meshq.postgres.pool_store import PgSupervisorLease

    return PgSupervisorLease(url)


class _LazyPoolStore:
    """The pools' ``PoolStore`` on PostgreSQL, opened on first use (by then the schema is
    migrated and the pools service's encoding is importable)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._store: Any = None

    def _open(self) -> Any:
        if self._store is None:
            from meshq.pools.store import decode, encode
            from meshq.postgres.pool_store import PgPoolStore

            self._store = PgPoolStore(self._url, encode=encode, decode=decode,
                                      key=lambda config: config.key)
        return self._store

    def save(self, config: Any) -> None:
        self._open().save(config)

    def delete(self, room: str, name: str) -> None:
        self._open().delete(room, name)

    def load(self) -> list[Any]:
        return list(self._open().load())

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def queue_backend_for(ctx: StackContext) -> Any:
    """The PostgreSQL ``QueueBackend`` of this replica."""
    from meshq.postgres.queue import PgQueueBackend

    return PgQueueBackend(database_of(ctx), replica=replica_name(ctx),
                          limits=ctx.settings.queue.limits,
                          observer=ctx.settings.queue.observer)


def storage_for(ctx: StackContext, max_file_bytes: int) -> Any:
    from meshq.postgres.storage import PgFileStorage

    return PgFileStorage(database_of(ctx), max_file_bytes=max_file_bytes)


def schedule_store_for(ctx: StackContext) -> Any:
    """The scheduler's store: its own small pool on a thread (its Protocol is synchronous)."""
    from meshq.postgres.schedule_store import PgScheduleStore

    return PgScheduleStore(str(ctx.settings.database.url))


def task_listener_for(ctx: StackContext, store: Any, engine: Any) -> Any:
    """Started: reloads ``engine``'s tasks when another replica changed them (and after each
    reconnect, when a change may have been missed). Close it with ``await .close()``."""
    from meshq.postgres.schedule_store import TASKS_CHANNEL
    from meshq.postgres.wakeups import Listener

    origin = store.origin

    def notified(payload: str) -> None:
        if payload != origin:
            engine.request_reload()

    listener = Listener(str(ctx.settings.database.url), TASKS_CHANNEL, notified,
                        engine.request_reload)
    listener.start()
    return _Closing(listener)


class _Closing:
    """Adapts a listener's ``stop`` to the ``close`` a component's closers call."""

    def __init__(self, listener: Any) -> None:
        self._listener = listener

    async def close(self) -> None:
        await self._listener.stop()
