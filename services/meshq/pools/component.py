"""The Workers component that `meshq up` / `meshq serve workers` host.

Settings: ``ctx.settings.pools`` (``meshq.server.settings.PoolsConfig``: backend, Ray
address and runtime env, the address actors dial, observer, timing, store, lease, API key,
watchdog interval). A loopback ``server_address`` is replaced by this node's IP when Ray is a
cluster. Ray is joined at the first StartPool, or when stored pools are re-created at start
(in the background: ``meshq up`` does not wait for Ray).
"""

from __future__ import annotations

import logging
from typing import Any

from meshq.core.errors import InvalidArgument, NotFound
from meshq.pools.backend import PoolBackend
from meshq.pools.model import Connect, QueueLoad
from meshq.pools.observer import PoolObserver
from meshq.pools.service import PoolManager
from meshq.pools.servicer import WorkerServicer
from meshq.pools.store import MemoryPoolStore, PoolStore, SqlitePoolStore
from meshq.pools.supervisor import LoadSource
from meshq.pools.tokens import PoolTokens, read_api_key
from meshq.pools.watchdog import BackendWatchdog
from meshq.server.context import StackContext
from meshq.server.handlers import ServiceRegistry
from meshq.server.settings import POOL_STORE
from meshq.v1 import workers_pb2_grpc

logger = logging.getLogger(__name__)

BACKENDS = ("ray", "asyncio")


def make_backend(kind: str, *, ray_address: str = "",
                 runtime_env: dict[str, Any] | None = None) -> PoolBackend:
    """A backend by name ("ray" imports nothing of Ray until a pool starts)."""
    if kind == "asyncio":
        from meshq.pools.asyncio_backend import AsyncioBackend

        return AsyncioBackend()
    if kind == "ray":
        from meshq.pools.ray_backend import RayBackend

        return RayBackend(address=ray_address, runtime_env=runtime_env)
    raise InvalidArgument(f"pool backend {kind!r} is unknown; use one of {', '.join(BACKENDS)}")


def engine_load(engine: Any) -> LoadSource:
    """Backlog from the in-process queue backend (a queue not created yet has none)."""

    async def load(room: str, queue: str) -> QueueLoad:
        try:
            info = await engine.queue_info(room, queue)
        except NotFound:
            return QueueLoad(ready=0, in_flight=0)
        return QueueLoad(ready=info.depth, in_flight=info.in_flight)

    return load


def grpc_load(ctx: StackContext) -> LoadSource:
    """Backlog through the SDK's queue listing (the queue runs in another process)."""
    from meshq.api.connection import Connection
    from meshq.api.queues import QueuesClient

    conn: Connection | None = None

    async def load(room: str, queue: str) -> QueueLoad:
        nonlocal conn
        if conn is None:
            conn = Connection(server=ctx.server_address, token=ctx.token or None,
                              tls_ca=ctx.tls_ca, insecure=True, timeout=5.0)
        for info in await QueuesClient(conn, room).list():
            if info.name == queue:
                return QueueLoad(ready=info.depth, in_flight=info.in_flight)
        return QueueLoad(ready=0, in_flight=0)

    return load


class WorkersComponent:
    """Serves meshq.v1.WorkerService over a ``PoolManager``."""

    service_names: tuple[str, ...] = ("meshq.v1.WorkerService",)

    def __init__(self, manager: PoolManager, watchdog: BackendWatchdog | None = None) -> None:
        self.manager = manager
        self.watchdog = watchdog

    async def start(self) -> None:
        """Re-create the stored pools (in the background; Ray is joined on the way) and watch
        the backend (a local Ray that dies is started again, its pools re-created)."""
        await self.manager.restore()
        if self.watchdog is not None:
            self.watchdog.start()

    def register(self, server: ServiceRegistry) -> None:
        workers_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerServicer(self.manager), server)

    async def stop(self) -> None:
        if self.watchdog is not None:
            await self.watchdog.stop()
        await self.manager.close()


def build_component(ctx: StackContext) -> WorkersComponent:
    settings = ctx.settings.pools
    kind = settings.backend
    if kind not in BACKENDS:
        raise InvalidArgument(f"pool backend {kind!r} is unknown; use one of {', '.join(BACKENDS)}")
    address = settings.ray_address
    runtime_env = settings.ray_runtime_env
    server = settings.server_address or ctx.server_address
    connect = Connect(server_address=server, token=ctx.token,
                      tls_ca=str(ctx.tls_ca) if ctx.tls_ca else "")
    api_key = ctx.settings.security.api_key or (
        read_api_key(ctx.data_dir) if ctx.engine is not None else None)
    if not api_key:
        logger.info("pools run with the server's token (no API key here to mint their own)")
    observer = settings.observer if isinstance(settings.observer, PoolObserver) else None
    manager = PoolManager(
        backend=lambda: make_backend(kind, ray_address=address, runtime_env=runtime_env),
        connect=connect,
        load=(engine_load(ctx.engine) if getattr(ctx.engine, "registry", None) is not None
              else grpc_load(ctx)),
        observer=observer,
        timing=settings.timing,
        tokens=PoolTokens(api_key, fallback=ctx.token),
        store=make_store(ctx),
        lease=settings.lease,
    )
    on_acquired = getattr(settings.lease, "on_acquired", None)
    if on_acquired is not None:  # a lease shared by replicas (PostgreSQL): take over when freed
        on_acquired(manager.restore)
    watchdog = BackendWatchdog(
        backend=lambda: manager.started_backend, supervisors=manager.supervisors,
        observer=observer, interval=settings.watchdog_interval)
    return WorkersComponent(manager, watchdog)


def make_store(ctx: StackContext) -> PoolStore:
    """The pool store the settings ask for (module docstring)."""
    choice = ctx.settings.pools.store or POOL_STORE
    if choice == "memory":
        return MemoryPoolStore()
    if choice == "sqlite":
        return SqlitePoolStore.in_data_dir(ctx.data_dir)
    if isinstance(choice, str):
        raise InvalidArgument(f"pool store {choice!r} is unknown; use sqlite or memory")
    return choice  # type: ignore[no-any-return]
