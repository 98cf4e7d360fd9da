"""The queue service as a server component: a ``QueueBackend`` behind the Room and Queue
servicers (the embedded engine over ``<data_dir>/queues.db`` by default)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from meshq.queue.backend import QueueBackend
from meshq.queue.engine import QueueEngine
from meshq.queue.servicer import QueueServicer, RoomServicer
from meshq.queue.sqlite_store import SqliteQueueStore
from meshq.server.context import StackContext
from meshq.server.handlers import ServiceRegistry
from meshq.v1 import queues_pb2_grpc, rooms_pb2_grpc

logger = logging.getLogger(__name__)

STORE_FILE = "queues.db"


class QueueComponent:
    """Hosts RoomService and QueueService over one backend.

    The backend is built at construction (so ``ctx.engine`` is there for components built
    after this one, e.g. the scheduler) and started by ``start``.
    """

    service_names = ("meshq.v1.RoomService", "meshq.v1.QueueService")

    def __init__(self, backend: QueueBackend,
                 room_delete_checks: Sequence[Callable[[str], None]] = ()) -> None:
        self.backend = backend
        self._room_delete_checks = room_delete_checks

    async def start(self) -> None:
        _shorten_gil_switch()
        await self.backend.start()

    def register(self, server: ServiceRegistry) -> None:
        rooms_pb2_grpc.add_RoomServiceServicer_to_server(RoomServicer(
            self.backend, delete_checks=self._room_delete_checks), server)
        queues_pb2_grpc.add_QueueServiceServicer_to_server(QueueServicer(self.backend), server)

    async def stop(self) -> None:
        await self.backend.close()


SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


def _shorten_gil_switch() -> None:
    """Let the store's writer thread win the GIL back quickly from a busy event loop.

    Each SQLite statement releases the GIL; getting it back waits until the loop's thread
    gives it up, up to the switch interval while it is busy: 5 ms by default, for each of the
    ~4 statements of a group commit, all of it added to every send's reply. The interval only
    matters while two threads want the GIL, so a shorter one costs nothing when idle.
    """
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


def build_component(ctx: StackContext) -> QueueComponent:
    """Open ``<data_dir>/queues.db`` and build the engine.

    Settings: ``ctx.settings.queue`` (limits and observer).
    """
    if ctx.database is not None:  # --database-url: docs/postgres.md
        from meshq.postgres.component import queue_backend_for

        backend = queue_backend_for(ctx)
        ctx.engine = backend
        return QueueComponent(backend)
    limits, observer = ctx.settings.queue.limits, ctx.settings.queue.observer
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteQueueStore(ctx.data_dir / STORE_FILE)
    engine = QueueEngine(store, limits=limits, observer=observer)
    engine.on_broken = lambda err: ctx.mark_not_serving(QueueComponent.service_names)
    ctx.engine = engine
    logger.info("queue store at %s", ctx.data_dir / STORE_FILE)
    return QueueComponent(engine, ctx.room_delete_checks)
