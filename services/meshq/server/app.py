"""Assemble components into one gRPC server: the heart of `meshq up` and `meshq serve`.

``start_stack(config)`` binds the port, builds each requested component from the shared
``StackContext``, starts them, registers their servicers together with the standard health
and reflection services, and starts serving. ``Stack.stop()`` reverses it: health turns
NOT_SERVING, the server drains in-flight calls within the grace, components stop in reverse.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from meshq.api.connection import MAX_MESSAGE_BYTES, is_loopback
from meshq.core.errors import FailedPrecondition
from meshq.server.component import Component
from meshq.server.context import StackContext
from meshq.server.datadir import StoreLocks, prepare_data_dir
from meshq.server.handlers import GenericHandlersOnly
from meshq.server.settings import Settings

logger = logging.getLogger(__name__)

# Each service name maps to the module whose build_component(ctx) makes it. Order matters:
# the queue component sets ctx.engine, which the scheduler and pools use in-process.
COMPONENT_MODULES: dict[str, str] = {
    "queue": "meshq.queue.component",
    "storage": "meshq.storage.component",
    "scheduler": "meshq.scheduler.component",
    "workers": "meshq.pools.component",
}
ALL_SERVICES = tuple(COMPONENT_MODULES)
DEFAULT_GRACE = 5.0  # seconds in-flight calls get on shutdown


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """What one server process runs and how."""

    data_dir: Path
    """Stores, keys and room storage live here."""
    listen: str = "127.0.0.1:50051"
    """host:port for gRPC; port 0 picks a free one."""
    services: tuple[str, ...] = ALL_SERVICES
    """Which components this process hosts (names of COMPONENT_MODULES)."""
    queue_server: str = ""
    """Where the queue service is, when this process does not host it (e.g. `serve scheduler`)."""
    queue_token: str = ""
    """A token the queue server at queue_server accepts (its admin token, or a scoped one)."""
    tls_cert: Path | None = None
    """PEM certificate chain; with tls_key, the server speaks TLS only."""
    tls_key: Path | None = None
    """PEM private key of tls_cert."""
    insecure: bool = False
    """Allow plaintext on a non-loopback address."""
    auth: bool = True
    """Require a bearer token on every RPC (off only in narrow tests)."""
    settings: Settings = field(default_factory=Settings)
    """Each service's typed settings (``meshq.server.settings``)."""


@dataclass
class Stack:
    """A running server and its components."""

    server: grpc.aio.Server
    port: int
    address: str
    """host:port a local client dials to reach this server."""
    context: StackContext
    components: list[Component]
    health: Any
    """The grpc.health.v1 servicer (per-service status)."""
    extras: list[Callable[[], Any]] = field(default_factory=list)
    """Shutdown callbacks run last (e.g. stopping the metrics endpoint)."""
    metrics_port: int = 0
    """The port of /metrics, 0 when this process serves none."""
    registry: Any = None
    """The Prometheus registry of this process's metrics."""
    locks: StoreLocks | None = None
    """The data dir's store locks this process holds (released by ``stop``)."""

    def record_endpoints(self, **where: str) -> None:
        """Write this process's other endpoints (``metrics``, ``studio`` URLs) beside its
        address in the data dir's lock files, where ``meshq status`` finds them."""
        if self.locks is not None:
            self.locks.record(self.address, **where)

    async def stop(self, grace: float = DEFAULT_GRACE) -> None:
        """NOT_SERVING first (so balancers drain), then stop serving, then stop components."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                logger.exception("stopping %s failed", type(component).__name__)
        for extra in reversed(self.extras):
            extra()


def check_listen(config: StackConfig) -> None:
    """Plaintext only on loopback unless the operator said --insecure."""
    tls = config.tls_cert is not None
    if tls != (config.tls_key is not None):
        raise FailedPrecondition("--tls-cert and --tls-key go together")
    if not tls and not config.insecure and not is_loopback(config.listen):
        raise FailedPrecondition(
            f"refusing plaintext on {config.listen}: pass --tls-cert/--tls-key, or --insecure"
        )


def build_component(name: str, ctx: StackContext) -> Component:
    try:
        module = importlib.import_module(COMPONENT_MODULES[name])
    except KeyError:
        raise FailedPrecondition(
            f"unknown service {name!r}; known: {', '.join(COMPONENT_MODULES)}"
        ) from None
    component: Component = module.build_component(ctx)
    return component


async def start_stack(
    config: StackConfig,
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    token: str = "",
    locks: StoreLocks | None = None,
) -> Stack:
    """Bind, build and start the components of ``config``, then serve.

    The data dir's store locks (``meshq.server.datadir``) are taken before any store opens:
    here, once the port is bound, unless the caller took them earlier and passes ``locks``
    (the stack then owns them and releases them when it stops or fails to start).
    """
    check_listen(config)
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    port = _bind(server, config)
    host = config.listen.rsplit(":", 1)[0]
    address = f"{_client_host(host)}:{port}"
    try:
        if locks is None:
            locks = prepare_data_dir(config.data_dir, config.services, address=address)
        else:
            locks.record(address)
    except BaseException:
        await server.stop(0)
        if locks is not None:
            locks.release()
        raise
    ctx = StackContext(
        data_dir=config.data_dir,
        server_address=config.queue_server or address,
        token=config.queue_token if config.queue_server else token,
        tls_ca=config.tls_cert,
        settings=config.settings,
    )
    components: list[Component] = []
    health_servicer = health.aio.HealthServicer()
    ctx.mark_not_serving = _not_serving_reporter(health_servicer)
    ctx.mark_serving = _not_serving_reporter(health_servicer,
                                             health_pb2.HealthCheckResponse.SERVING)
    try:
        database = None
        if config.settings.database.url:  # the PostgreSQL tier: its pool comes first
            from meshq.postgres.component import build_database

            database = build_database(ctx)
            await database.start()
            components.append(database)
        for name in config.services:
            component = build_component(name, ctx)
            await component.start()
            components.append(component)
            component.register(GenericHandlersOnly(server))
        if database is not None:
            database.watch([n for c in components for n in c.service_names])
    except BaseException:
        for component in reversed(components):
            await component.stop()
        await server.stop(0)
        locks.release()
        raise
    _add_standard_services(server, health_servicer, components)
    await server.start()
    await _mark_serving(health_servicer, components)
    logger.info("serving %s on %s", ", ".join(config.services), address)
    return Stack(server=server, port=port, address=address, context=ctx, components=components,
                 health=health_servicer, extras=[locks.release], locks=locks)


def _bind(server: grpc.aio.Server, config: StackConfig) -> int:
    if config.tls_cert is not None and config.tls_key is not None:
        from meshq.security.tls import server_credentials

        port = server.add_secure_port(
            config.listen, server_credentials(config.tls_cert, config.tls_key)
        )
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        raise FailedPrecondition(f"cannot listen on {config.listen} (address in use?)")
    return port


def _client_host(host: str) -> str:
    """The address a local client dials for a listen host (0.0.0.0 / [::] -> loopback)."""
    return {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)


def _add_standard_services(
    server: grpc.aio.Server, health_servicer: Any, components: Sequence[Component]
) -> None:
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, GenericHandlersOnly(server))
    names = [name for component in components for name in component.service_names]
    reflection.enable_server_reflection(
        (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )


def _not_serving_reporter(
    health_servicer: Any, status: Any = health_pb2.HealthCheckResponse.NOT_SERVING
) -> Callable[[Sequence[str]], None]:
    """A callback (safe from any code on the loop) that turns services NOT_SERVING (or
    ``status``: SERVING again, when a database answers again)."""
    pending: set[asyncio.Task[None]] = set()
    serving = status == health_pb2.HealthCheckResponse.SERVING

    async def mark(names: Sequence[str]) -> None:
        await health_servicer.set("", status)
        for name in names:
            await health_servicer.set(name, status)

    def report(names: Sequence[str]) -> None:
        (logger.warning if serving else logger.error)(
            "%s: %s", "SERVING" if serving else "NOT_SERVING", ", ".join(names))
        task = asyncio.get_running_loop().create_task(mark(names))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return report


async def _mark_serving(health_servicer: Any, components: Sequence[Component]) -> None:
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for component in components:
        for name in component.service_names:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
