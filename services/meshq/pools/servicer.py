"""WorkerService: proto in, ``PoolManager`` call, proto out; errors mapped by ``rpc_errors``.

Pool-name RPCs learn a pool's room only by looking it up: the lookup sees only rooms where the
caller holds the ``workers`` grant, so another room's pool answers NOT_FOUND exactly like a
name nobody uses (nothing to enumerate, no room named).
"""

from __future__ import annotations

import grpc

from meshq.core.validation import check_name, check_seconds
from meshq.pools.convert import pool_config_from_proto, pool_to_proto
from meshq.pools.model import DEFAULT_STOP_GRACE, MAX_GRACE
from meshq.pools.service import PoolManager
from meshq.server.status import rpc_errors
from meshq.v1 import workers_pb2, workers_pb2_grpc

WORKERS_GRANT = "workers"


def _visible(room: str) -> bool:
    from meshq.security.context import may_see

    return may_see(room, WORKERS_GRANT)


def _named(name: str, room: str) -> tuple[str, str]:
    check_name("name", name)
    if room:
        check_name("room", room)
    return name, room


class WorkerServicer(workers_pb2_grpc.WorkerServiceServicer):
    def __init__(self, manager: PoolManager) -> None:
        self.manager = manager

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
        pools = self.manager.list_pools(request.room, visible=_visible)
        return workers_pb2.ListPoolsResponse(pools=[pool_to_proto(p) for p in pools])

    @rpc_errors
    async def GetPool(self, request: workers_pb2.GetPoolRequest,
                      context: grpc.aio.ServicerContext) -> workers_pb2.GetPoolResponse:
        name, room = _named(request.name, request.room)
        snap = self.manager.get_pool(name, room, visible=_visible)
        return workers_pb2.GetPoolResponse(pool=pool_to_proto(snap))

    @rpc_errors
    async def ScalePool(self, request: workers_pb2.ScalePoolRequest,
                        context: grpc.aio.ServicerContext) -> workers_pb2.ScalePoolResponse:
        def field(name: str) -> int | None:
            return getattr(request, name) if request.HasField(name) else None

        name, room = _named(request.name, request.room)
        snap = await self.manager.scale_pool(
            name, room, replicas=field("replicas"), min_replicas=field("min_replicas"),
            max_replicas=field("max_replicas"), target_backlog=field("target_backlog"),
            visible=_visible)
        return workers_pb2.ScalePoolResponse(pool=pool_to_proto(snap))

    @rpc_errors
    async def StopPool(self, request: workers_pb2.StopPoolRequest,
                       context: grpc.aio.ServicerContext) -> workers_pb2.StopPoolResponse:
        grace = check_seconds("grace_seconds", request.grace_seconds, maximum=MAX_GRACE)
        name, room = _named(request.name, request.room)
        snap = await self.manager.stop_pool(name, room, grace=grace or DEFAULT_STOP_GRACE,
                                            visible=_visible)
        return workers_pb2.StopPoolResponse(pool=pool_to_proto(snap))
