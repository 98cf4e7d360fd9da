"""Rooms: ``RoomsClient`` manages them; ``RoomClient`` works inside one (the reference's name).

``RoomClient`` takes either ``room=`` (+ ``server=``, ``token=``), a ``protocol=`` (the
reference's ``WebSocketClientProtocol(url=websocket_room_url(room_name=...), token=...)``), or
an existing ``connection=`` (shared, not closed on exit). Entering it makes no call: the room
is created by the first ``send`` / ``receive`` / ``subscribe`` with ``create=True``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshq.api.connection import DEFAULT_TIMEOUT, Connection
from meshq.api.protocol import GrpcClientProtocol
from meshq.api.queues import QueuesClient
from meshq.v1 import rooms_pb2, rooms_pb2_grpc

if TYPE_CHECKING:
    from meshq.api.storage import StorageClient


@dataclass(frozen=True)
class Room:
    """A room."""

    name: str
    created_at: float
    """Seconds since the Unix epoch."""
    queue_count: int

    @classmethod
    def from_proto(cls, room: rooms_pb2.Room) -> Room:
        return cls(name=room.name, created_at=room.created_at_unix_ms / 1000,
                   queue_count=room.queue_count)


class RoomsClient:
    """Create, get, list and delete rooms."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def _stub(self) -> rooms_pb2_grpc.RoomServiceStub:
        return self._conn.stub(rooms_pb2_grpc.RoomServiceStub)

    def _call(self) -> dict[str, Any]:
        return self._conn.call_options()

    async def create(self, name: str, *, if_not_exists: bool = False) -> Room:
        """Create a room (ALREADY_EXISTS unless ``if_not_exists``)."""
        response = await self._stub.CreateRoom(
            rooms_pb2.CreateRoomRequest(name=name, if_not_exists=if_not_exists), **self._call())
        return Room.from_proto(response.room)

    async def get(self, name: str) -> Room:
        response = await self._stub.GetRoom(rooms_pb2.GetRoomRequest(name=name), **self._call())
        return Room.from_proto(response.room)

    async def delete(self, name: str, *, force: bool = False) -> None:
        """Delete a room; with ``force`` its queues and messages go too."""
        await self._stub.DeleteRoom(rooms_pb2.DeleteRoomRequest(name=name, force=force),
                                    **self._call())

    async def list(self) -> builtins.list[Room]:
        response = await self._stub.ListRooms(rooms_pb2.ListRoomsRequest(), **self._call())
        return [Room.from_proto(r) for r in response.rooms]


class RoomClient:
    """One room on one server: ``room.queues``, ``room.storage``."""

    def __init__(self, *, room: str | None = None, server: str | None = None,
                 token: str | None = None, protocol: GrpcClientProtocol | None = None,
                 connection: Connection | None = None, tls_ca: str | Path | None = None,
                 insecure: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._owns_connection = connection is None
        if protocol is not None:
            if room is not None and room != protocol.room_name:
                raise ValueError(f"room {room!r} differs from the protocol's "
                                 f"{protocol.room_name!r}")
            room = protocol.room_name
            connection = connection or protocol.connect()
        if not room:
            raise ValueError("RoomClient needs room= or protocol=")
        self.room_name = room
        self.connection = connection or Connection(server=server, token=token, tls_ca=tls_ca,
                                                   insecure=insecure, timeout=timeout)
        self.queues = QueuesClient(self.connection, room)
        self._storage: StorageClient | None = None

    @property
    def storage(self) -> StorageClient:
        """The room's files (``meshq.api.storage``)."""
        if self._storage is None:
            from meshq.api.storage import StorageClient

            self._storage = StorageClient(self.connection, self.room_name)
        return self._storage

    async def close(self) -> None:
        if self._owns_connection:
            await self.connection.close()

    async def __aenter__(self) -> RoomClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
