"""Servicers go on the server as generic handlers only (``meshq.server.handlers``).

A spy between ``GenericHandlersOnly`` and a real ``grpc.aio`` server records what reaches the
server: the generated code's registered-method copy must not, and the service must still
answer a real call over loopback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from meshq.server.handlers import GenericHandlersOnly


class _Spy:
    """Forwards both ways of adding handlers to ``server``, noting the registered ones."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server
        self.registered: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, name: str,
                                       handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        self.registered.append(name)
        self.server.add_registered_method_handlers(name, handlers)


async def test_a_service_added_generic_only_still_answers() -> None:
    server = grpc.aio.server()
    spy = _Spy(server)
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, GenericHandlersOnly(spy))  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert spy.registered == []
    finally:
        await server.stop(0)
