"""WorkerService: proto in, ``PoolManager`` call, proto out; errors mapped by ``rpc_errors``."""

from __future__ import annotations

import grpc

from meshq.core.validation import check_name, check_seconds
from meshq.pools.convert import pool_config_from_proto, pool_to_proto
from meshq.pools.model import DEFAULT_STOP_GRACE, MAX_GRACE
from meshq.pools.service import PoolManager
from meshq.server.status import rpc_errors
from meshq.v1 import workers_pb2, workers_pb2_grpc

WORKERS_GRANT = "workers"


def _require(room: str) -> None:
    """Pool-name RPCs learn their room after the lookup: check the caller may use it."""
    from meshq.security.context import require

    require(room, WORKERS_GRANT)


def _visible(room: str) -> bool:
    from meshq.security.context import may_see

    return may_see(room, WORKERS_GRANT)


class WorkerServicer(workers_pb2_grpc.WorkerServiceServicer):
    def __init__(self, manager: PoolManager) -> None:
        self.manager = manager

    def _named(self, name: str) -> str:
        check_name("name", name)
        _require(self.manager.pool(name).config.worker.room)
        return name

    @rpc_errors
    async def StartPool(self, request: workers_pb2.StartPoolRequest,
                        context: grpc.aio.ServicerContext) -> workers_pb2.StartPoolResponse:
        config = pool_config_from_proto(request.spec)
        snap = await self.manager.start_pool(config)
        return workers_pb2.StartPoolResponse(pool=pool_to_proto(snap))

    @rpc_errors
    async def ListPools(self, request: workers_pb2.ListPoolsRequest,
                        context: grpc.aio.ServicerContext) -> workers_pb2.ListPoolsResponse:
        if request.room:
            check_name("room", request.room)
        pools = [p for p in self.manager.list_pools(request.room)
                 if _visible(p.config.worker.room)]
        return workers_pb2.ListPoolsResponse(pools=[pool_to_proto(p) for p in pools])

    @rpc_errors
    async def GetPool(self, request: workers_pb2.GetPoolRequest,
                      context: grpc.aio.ServicerContext) -> workers_pb2.GetPoolResponse:
        snap = self.manager.get_pool(self._named(request.name))
        return workers_pb2.GetPoolResponse(pool=pool_to_proto(snap))

    @rpc_errors
    async def ScalePool(self, request: workers_pb2.ScalePoolRequest,
                        context: grpc.aio.ServicerContext) -> workers_pb2.ScalePoolResponse:
        def field(name: str) -> int | None:
            return getattr(request, name) if request.HasField(name) else None

        snap = await self.manager.scale_pool(
            self._named(request.name), replicas=field("replicas"),
            min_replicas=field("min_replicas"), max_replicas=field("max_replicas"),
            target_backlog=field("target_backlog"))
        return workers_pb2.ScalePoolResponse(pool=pool_to_proto(snap))

    @rpc_errors
    async def StopPool(self, request: workers_pb2.StopPoolRequest,
                       context: grpc.aio.ServicerContext) -> workers_pb2.StopPoolResponse:
        grace = check_seconds("grace_seconds", request.grace_seconds, maximum=MAX_GRACE)
        snap = await self.manager.stop_pool(self._named(request.name),
                                            grace=grace or DEFAULT_STOP_GRACE)
        return workers_pb2.StopPoolResponse(pool=pool_to_proto(snap))
