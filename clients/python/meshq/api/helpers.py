"""Room URLs: ``meshq://HOST:PORT/rooms/NAME`` names a server and a room in one string.

``websocket_room_url`` keeps the reference's name (the code written for MeshAgent imports it);
the URL it builds is a gRPC address, not a WebSocket one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from meshq.api.paths import default_server

SCHEME = "meshq"


@dataclass(frozen=True)
class RoomUrl:
    """A parsed room URL."""

    server: str
    """host:port of the meshq server."""
    room: str
    """The room's name."""


def room_url(room_name: str, server: str | None = None) -> str:
    """``meshq://HOST:PORT/rooms/NAME``; ``server`` defaults to $MESHQ_SERVER or 127.0.0.1:50051."""
    return f"{SCHEME}://{server or default_server()}/rooms/{quote(room_name, safe='')}"


def websocket_room_url(room_name: str, server: str | None = None, **_: object) -> str:
    """The reference's name for ``room_url`` (extra keyword arguments are ignored)."""
    return room_url(room_name, server)


def parse_room_url(url: str) -> RoomUrl:
    """Split a room URL into server and room; raise ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValueError(f"room URL {url!r} must start with {SCHEME}://")
    if not parts.netloc:
        raise ValueError(f"room URL {url!r} has no host:port")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or segments[0] != "rooms":
        raise ValueError(f"room URL {url!r} must look like {SCHEME}://HOST:PORT/rooms/NAME")
    return RoomUrl(server=parts.netloc, room=unquote(segments[1]))
