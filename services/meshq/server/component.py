"""A component is one service (or a group) that ``meshq up`` and ``meshq serve`` host.

``create_server`` starts components, registers their servicers on one ``grpc.aio`` server,
reports their health, and stops them in reverse order.
"""

from __future__ import annotations

from typing import Protocol

from meshq.server.handlers import ServiceRegistry


class Component(Protocol):
    """What a service gives the server assembly."""

    service_names: tuple[str, ...]
    """Fully qualified gRPC service names (e.g. "meshq.v1.QueueService"), for health and reflection."""

    async def start(self) -> None:
        """Open stores and start background loops; called before the server starts."""

    def register(self, server: ServiceRegistry) -> None:
        """Add the servicers to the server (``meshq.server.handlers``: generic handlers only)."""

    async def stop(self) -> None:
        """Stop background loops and close stores; called after the server stopped."""
