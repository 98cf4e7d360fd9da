"""The scheduler as a server component: SQLite store, enqueuer, engine, servicer.

Inside ``meshq up`` it sends through the in-process queue engine; alone (``meshq serve
scheduler --queue-server ADDR``) it sends over gRPC with the stack's token.
"""

from __future__ import annotations

import logging

from meshq.scheduler.engine import SchedulerEngine
from meshq.scheduler.enqueuer import EngineEnqueuer, Enqueuer, GrpcEnqueuer
from meshq.scheduler.servicer import SchedulerServicer
from meshq.scheduler.sqlite_store import SqliteScheduleStore
from meshq.scheduler.store import ScheduleStore
from meshq.server.context import StackContext
from meshq.server.handlers import ServiceRegistry
from meshq.v1 import scheduler_pb2_grpc

logger = logging.getLogger(__name__)

STORE_FILE = "scheduler.db"


class SchedulerComponent:
    """Hosts SchedulerService over one engine; the loop runs between start and stop."""

    service_names = ("meshq.v1.SchedulerService",)

    def __init__(self, engine: SchedulerEngine, close: list[object]) -> None:
        self.engine = engine
        self._close = close

    async def start(self) -> None:
        await self.engine.start()

    def register(self, server: ServiceRegistry) -> None:
        scheduler_pb2_grpc.add_SchedulerServiceServicer_to_server(SchedulerServicer(self.engine), server)

    async def stop(self) -> None:
        await self.engine.stop()
        self.engine.store.close()
        for item in self._close:
            close = getattr(item, "close", None)
            if close is not None:
                await close()


def build_component(ctx: StackContext) -> SchedulerComponent:
    """Open ``<data_dir>/scheduler.db``; send in process when ``ctx.engine`` is set, else over
    gRPC to ``ctx.server_address`` with ``ctx.token``.

    Settings: ``ctx.settings.scheduler`` (observer, misfire grace, tasks per room).

    Registers ``engine.check_room_deletable`` in ``ctx.room_delete_checks``: DeleteRoom of a
    room with scheduled tasks is refused (in this process; see docs/scheduler.md).
    """
    settings = ctx.settings.scheduler
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    close: list[object] = []
    enqueuer: Enqueuer
    store: ScheduleStore
    if ctx.database is not None:  # --database-url: docs/postgres.md
        from meshq.postgres.component import schedule_store_for

        store = schedule_store_for(ctx)
    else:
        store = SqliteScheduleStore(ctx.data_dir / STORE_FILE)
    if ctx.engine is not None:
        enqueuer = EngineEnqueuer(ctx.engine)
    else:
        from meshq.api.connection import Connection

        conn = Connection(server=ctx.server_address, token=ctx.token or None, tls_ca=ctx.tls_ca,
                          data_dir=ctx.data_dir)
        enqueuer = GrpcEnqueuer(conn)
        close.append(conn)
    engine = SchedulerEngine(store, enqueuer, observer=settings.observer,
                             misfire_grace_seconds=settings.misfire_grace_seconds,
                             max_tasks_per_room=settings.max_tasks_per_room)
    ctx.room_delete_checks.append(engine.check_room_deletable)
    if ctx.database is not None:  # replicas reload tasks changed elsewhere
        from meshq.postgres.component import task_listener_for

        close.append(task_listener_for(ctx, store, engine))
    logger.info("scheduler store at %s (%s)", ctx.data_dir / STORE_FILE, type(enqueuer).__name__)
    return SchedulerComponent(engine, close)
