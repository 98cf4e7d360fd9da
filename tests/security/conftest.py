"""A live server for the security tests: every service of the descriptors behind AuthInterceptor.

Components that exist are hosted for real (real SQLite, real files in a temp data dir); a
service whose component is not built yet gets a generic handler answering UNIMPLEMENTED, so
that authentication and authorisation of its RPCs are still exercised.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from meshq.api.tokens import ApiScope, ParticipantGrant, ParticipantToken
from meshq.security.interceptor import AuthInterceptor
from meshq.security.keys import ensure_local_credentials
from meshq.server.context import StackContext
from meshq.server.settings import PoolsConfig, Settings
from meshq.v1 import queues_pb2, rooms_pb2, scheduler_pb2, storage_pb2, workers_pb2

logger = logging.getLogger(__name__)

PB2_MODULES = (rooms_pb2, queues_pb2, scheduler_pb2, storage_pb2, workers_pb2)
COMPONENT_MODULES = {
    "queue": "meshq.queue.component",
    "storage": "meshq.storage.component",
    "scheduler": "meshq.scheduler.component",
    "workers": "meshq.pools.component",
}


def all_services() -> list[Any]:
    """Every service descriptor of the v1 protos."""
    return [svc for module in PB2_MODULES for svc in module.DESCRIPTOR.services_by_name.values()]


def message_class(descriptor: Any) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _unimplemented_handler(service: Any) -> grpc.GenericRpcHandler:
    handlers = {}
    for method in service.methods:
        request_class = message_class(method.input_type)
        kind = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(method.client_streaming, method.server_streaming)]

        if method.server_streaming:
            async def behavior(request: Any, context: Any) -> Any:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not hosted here")
                yield
        else:
            async def behavior(request: Any, context: Any) -> Any:  # type: ignore[misc]
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not hosted here")

        handlers[method.name] = kind(
            behavior, request_deserializer=request_class.FromString,
            response_serializer=lambda m: m.SerializeToString())
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


@dataclass
class LiveServer:
    """A running server, its data dir, API key and admin token."""

    address: str
    data_dir: Path
    api_key: str
    admin_token: str
    hosted: set[str] = field(default_factory=set)
    """Full names of services hosted for real."""
    server: Any = None
    interceptor: Any = None

    def token(self, room: str, scope: ApiScope, *, ttl: timedelta = timedelta(hours=1),
              audience: str = "meshq", api_key: str | None = None) -> str:
        return ParticipantToken(name="tester", grants=[
            ParticipantGrant(name="room", scope=room),
            ParticipantGrant(name="role", scope="agent"),
            ParticipantGrant(name="api", scope=scope),
        ]).to_jwt(api_key=api_key or self.api_key, ttl=ttl, audience=audience)


async def start_live_server(data_dir: Path, *, credentials: Any = None,
                            tls: tuple[Path, Path] | None = None,
                            max_streams_per_token: int = 8) -> tuple[LiveServer, list[Any]]:
    """Start every component behind AuthInterceptor (a component that fails to build fails
    the test); a service no component hosts would get an UNIMPLEMENTED stand-in."""
    api_key, admin = ensure_local_credentials(data_dir)
    interceptor = AuthInterceptor(api_key, max_streams_per_token=max_streams_per_token)
    server = grpc.aio.server(interceptors=[interceptor])
    if tls is not None:
        from meshq.security.tls import server_credentials

        port = server.add_secure_port("127.0.0.1:0", server_credentials(*tls))
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    ctx = StackContext(data_dir=data_dir, server_address=f"127.0.0.1:{port}", token=admin,
                       settings=Settings(pools=PoolsConfig(backend="asyncio")))
    components: list[Any] = []
    hosted: set[str] = set()
    for module_name in COMPONENT_MODULES.values():
        component = importlib.import_module(module_name).build_component(ctx)
        await component.start()
        component.register(server)
        components.append(component)
        hosted.update(component.service_names)
    stand_ins = [_unimplemented_handler(s) for s in all_services() if s.full_name not in hosted]
    server.add_generic_rpc_handlers(stand_ins)
    await server.start()
    live = LiveServer(address=f"127.0.0.1:{port}", data_dir=data_dir, api_key=api_key,
                      admin_token=admin, hosted=hosted, server=server, interceptor=interceptor)
    return live, components


async def stop_live_server(live: LiveServer, components: list[Any]) -> None:
    await live.server.stop(0.5)
    for component in reversed(components):
        await component.stop()


@pytest.fixture(scope="session")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("security-data")
    server, components = await start_live_server(data_dir)
    try:
        yield server
    finally:
        await stop_live_server(server, components)


@pytest.fixture(scope="session")
async def channel(live: LiveServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(live.address) as chan:
        yield chan


@pytest.fixture
def room() -> str:
    return "sec-" + uuid.uuid4().hex[:10]
