"""Rooms through the SDK, and the reference's way of opening a RoomClient."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from meshq.api.client import MeshqClient
from meshq.api.helpers import parse_room_url, websocket_room_url
from meshq.api.protocol import WebSocketClientProtocol
from meshq.api.rooms import RoomClient


async def test_create_get_list_delete(client: MeshqClient, unique: str) -> None:
    created = await client.rooms.create(unique)
    assert created.name == unique and created.queue_count == 0
    assert (await client.rooms.get(unique)).name == unique
    assert unique in [r.name for r in await client.rooms.list()]
    await client.rooms.delete(unique)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.rooms.get(unique)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_create_twice(client: MeshqClient, unique: str) -> None:
    await client.rooms.create(unique)
    assert (await client.rooms.create(unique, if_not_exists=True)).name == unique
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.rooms.create(unique)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_delete_room_with_queues_needs_force(client: MeshqClient, unique: str) -> None:
    room = client.room(unique)
    await room.queues.send(name="jobs", message={"x": 1})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.rooms.delete(unique)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await client.rooms.get(unique)).queue_count >= 1
    await client.rooms.delete(unique, force=True)
    assert unique not in [r.name for r in await client.rooms.list()]


async def test_reference_style_room_client(server: Any, unique: str) -> None:
    # The reference's push_queue.py, with meshagent replaced by meshq.
    url = websocket_room_url(room_name=unique, server=server.address)
    protocol = WebSocketClientProtocol(url=url, token=server.token)
    async with RoomClient(protocol=protocol) as room:
        assert room.room_name == unique
        await room.queues.send(name="test", message={"instructions": "write a poem"})
        assert await room.queues.receive(name="test", wait=False) == {
            "instructions": "write a poem"}


def test_room_url_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHQ_SERVER", "10.0.0.5:7000")
    url = websocket_room_url(room_name="queue-test")
    assert url == "meshq://10.0.0.5:7000/rooms/queue-test"
    parsed = parse_room_url(url)
    assert (parsed.server, parsed.room) == ("10.0.0.5:7000", "queue-test")


@pytest.mark.parametrize("bad", ["http://h:1/rooms/x", "meshq:///rooms/x", "meshq://h:1/x",
                                 "meshq://h:1/rooms/a/b"])
def test_bad_room_url(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_room_url(bad)


def test_room_client_needs_a_room() -> None:
    with pytest.raises(ValueError):
        RoomClient(server="127.0.0.1:1")
