"""Streams behind the interceptor: the first frame is checked, the principal reaches the
servicer, open streams are limited per token, and a stream ends when its token expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest

from meshq.api.tokens import ApiScope, ParticipantGrant, ParticipantToken
from meshq.core.errors import MeshqError
from meshq.security import context as security_context
from meshq.security.interceptor import AuthInterceptor
from meshq.security.principal import Grant
from meshq.v1 import queues_pb2, queues_pb2_grpc, rooms_pb2, rooms_pb2_grpc

KEY = "stream-test-key-" * 3


class Rooms(rooms_pb2_grpc.RoomServiceServicer):
    """GetRoom answers with the caller's name, after a servicer-side room check."""

    async def GetRoom(self, request: Any, context: Any) -> Any:
        try:
            principal = security_context.require(request.name, Grant.ROOM)
        except MeshqError as err:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, err.message)
        return rooms_pb2.GetRoomResponse(room=rooms_pb2.Room(name=principal.name))

    async def ListRooms(self, request: Any, context: Any) -> Any:
        rooms = ["a", "b", "c"]
        visible = [r for r in rooms if security_context.may_see(r)]
        return rooms_pb2.ListRoomsResponse(rooms=[rooms_pb2.Room(name=r) for r in visible])


class Queues(queues_pb2_grpc.QueueServiceServicer):
    """Subscribe yields one empty frame (the stream is open), then waits until cancelled."""

    def __init__(self) -> None:
        self.first_frames: list[Any] = []

    async def Subscribe(self, request_iterator: AsyncIterator[Any],
                        context: Any) -> AsyncIterator[Any]:
        first = await anext(aiter(request_iterator))
        self.first_frames.append(first)
        yield queues_pb2.SubscribeResponse()
        await asyncio.Event().wait()


def token(room: str, *, ttl: timedelta = timedelta(hours=1), name: str = "alice") -> str:
    return ParticipantToken(name=name, grants=[
        ParticipantGrant(name="room", scope=room),
        ParticipantGrant(name="api", scope=ApiScope.agent_default()),
    ]).to_jwt(api_key=KEY, ttl=ttl)


@pytest.fixture(scope="module")
async def stub() -> AsyncIterator[tuple[grpc.aio.Channel, Queues, AuthInterceptor]]:
    interceptor = AuthInterceptor(KEY, max_streams_per_token=2)
    server = grpc.aio.server(interceptors=[interceptor])
    queues = Queues()
    rooms_pb2_grpc.add_RoomServiceServicer_to_server(Rooms(), server)
    queues_pb2_grpc.add_QueueServiceServicer_to_server(queues, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, queues, interceptor
    await server.stop(0)


def md(raw: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {raw}"),)


def open_frame(room: str, queue: str = "jobs") -> queues_pb2.SubscribeRequest:
    return queues_pb2.SubscribeRequest(open=queues_pb2.SubscribeOpen(room=room, queue=queue,
                                                                     max_in_flight=1))


async def test_the_servicer_sees_the_verified_principal(stub: Any) -> None:
    channel, _, _ = stub
    rooms = rooms_pb2_grpc.RoomServiceStub(channel)
    reply = await rooms.GetRoom(rooms_pb2.GetRoomRequest(name="a"), metadata=md(token("a")),
                                timeout=5)
    assert reply.room.name == "alice"
    listed = await rooms.ListRooms(rooms_pb2.ListRoomsRequest(), metadata=md(token("b")),
                                   timeout=5)
    assert [r.name for r in listed.rooms] == ["b"]


async def test_subscribe_first_frame_for_another_room_is_denied_before_the_servicer(
    stub: Any
) -> None:
    channel, queues, _ = stub
    before = len(queues.first_frames)
    call = queues_pb2_grpc.QueueServiceStub(channel).Subscribe(
        iter([open_frame("other")]), metadata=md(token("mine")), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in call:
            pass
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(queues.first_frames) == before


async def test_open_streams_are_limited_per_token(stub: Any) -> None:
    channel, _, interceptor = stub
    subscribe = queues_pb2_grpc.QueueServiceStub(channel).Subscribe
    raw = token("r", name="limited")
    # Given two open streams (each has received its first frame)
    calls = [subscribe(iter([open_frame("r")]), metadata=md(raw), timeout=10) for _ in range(2)]
    for call in calls:
        await call.read()
    # When a third opens with the same token, Then it is refused
    third = subscribe(iter([open_frame("r")]), metadata=md(raw), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await third.read()
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # And another token is not affected
    other = subscribe(iter([open_frame("r")]), metadata=md(token("r", name="other")), timeout=5)
    await other.read()
    other.cancel()
    # When one stream closes, a new one is accepted once the server has seen it close
    calls[0].cancel()
    deadline = asyncio.get_running_loop().time() + 5
    while interceptor.open_streams(raw) > 1:
        assert asyncio.get_running_loop().time() < deadline, "the slot was never freed"
        await asyncio.sleep(0.01)
    retry = subscribe(iter([open_frame("r")]), metadata=md(raw), timeout=5)
    await retry.read()
    retry.cancel()
    calls[1].cancel()


async def test_a_stream_ends_unauthenticated_when_its_token_expires(stub: Any) -> None:
    channel, _, _ = stub
    call = queues_pb2_grpc.QueueServiceStub(channel).Subscribe(
        iter([open_frame("r")]), metadata=md(token("r", ttl=timedelta(seconds=2))), timeout=10)
    await call.read()  # open
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (err.value.details() or "")


async def test_undecodable_request_bytes_are_invalid_argument(stub: Any) -> None:
    channel, _, _ = stub
    get_room = channel.unary_unary("/meshq.v1.RoomService/GetRoom")
    for raw in (b"\x0a\x02\xff\xfe", b"\xff\xff\xff"):  # bad UTF-8 in a string; corrupt wire
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_room(raw, metadata=md(token("a")), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_rpc_missing_from_the_table_is_refused() -> None:
    # Given an interceptor whose table lacks GetRoom
    interceptor = AuthInterceptor(KEY, table={})
    server = grpc.aio.server(interceptors=[interceptor])
    rooms_pb2_grpc.add_RoomServiceServicer_to_server(Rooms(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await rooms_pb2_grpc.RoomServiceStub(channel).GetRoom(
                    rooms_pb2.GetRoomRequest(name="a"), metadata=md(token("*")), timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await server.stop(0)


def test_require_fails_closed_without_a_principal() -> None:
    with pytest.raises(MeshqError):
        security_context.require("a", Grant.ROOM)
    assert security_context.visible_rooms() == frozenset()
