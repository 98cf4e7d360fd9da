"""The transport a ``RoomClient`` uses: a gRPC connection to one room on one server.

``WebSocketClientProtocol`` is the reference's name for its transport; in meshq it is this
gRPC transport under that name, so ``RoomClient(protocol=WebSocketClientProtocol(url=..., token=...))``
from code written for MeshAgent works unchanged.
"""

from __future__ import annotations

from pathlib import Path

from meshq.api.connection import DEFAULT_TIMEOUT, Connection
from meshq.api.helpers import parse_room_url


class GrpcClientProtocol:
    """A room URL (``meshq://HOST:PORT/rooms/NAME``) plus the credentials to reach it."""

    def __init__(self, url: str, token: str | None = None, tls_ca: str | Path | None = None,
                 insecure: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        parsed = parse_room_url(url)
        self.url = url
        self.server = parsed.server
        self.room_name = parsed.room
        self.token = token
        self.tls_ca = tls_ca
        self.insecure = insecure
        self.timeout = timeout

    def connect(self) -> Connection:
        """A new connection (its channel opens on first use)."""
        return Connection(server=self.server, token=self.token, tls_ca=self.tls_ca,
                          insecure=self.insecure, timeout=self.timeout)


WebSocketClientProtocol = GrpcClientProtocol
