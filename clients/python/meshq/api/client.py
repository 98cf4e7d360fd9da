"""``MeshqClient``: one connection to a meshq server and every service's client on it.

``async with MeshqClient() as client:`` then ``client.rooms``, ``client.room("name")``,
``client.scheduler`` and ``client.pools``. The scheduler and pools clients are imported on
first use, so the SDK works without their modules' dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meshq.api.connection import DEFAULT_TIMEOUT, Connection
from meshq.api.rooms import RoomClient, RoomsClient

if TYPE_CHECKING:
    from meshq.api.pools import PoolsClient
    from meshq.api.scheduler import SchedulerClient


class MeshqClient:
    """A connection to one server (``server`` defaults to $MESHQ_SERVER or 127.0.0.1:50051)."""

    def __init__(self, server: str | None = None, token: str | None = None,
                 tls_ca: str | Path | None = None, insecure: bool = False,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.connection = Connection(server=server, token=token, tls_ca=tls_ca,
                                     insecure=insecure, timeout=timeout)
        self.rooms = RoomsClient(self.connection)
        self._scheduler: SchedulerClient | None = None
        self._pools: PoolsClient | None = None

    def room(self, name: str) -> RoomClient:
        """A client for one room on this connection (closing it leaves the connection open)."""
        return RoomClient(room=name, connection=self.connection)

    @property
    def scheduler(self) -> SchedulerClient:
        if self._scheduler is None:
            from meshq.api.scheduler import SchedulerClient

            self._scheduler = SchedulerClient(self.connection)
        return self._scheduler

    @property
    def pools(self) -> PoolsClient:
        if self._pools is None:
            from meshq.api.pools import PoolsClient

            self._pools = PoolsClient(self.connection)
        return self._pools

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> MeshqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
