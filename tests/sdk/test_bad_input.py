"""Bad input gets a status that says what to fix, and changes nothing that is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from meshq.api.rooms import RoomClient
from meshq.v1 import queues_pb2, queues_pb2_grpc

MiB = 1024 * 1024


@pytest.fixture
async def stub(server: Any) -> AsyncIterator[tuple[queues_pb2_grpc.QueueServiceStub, Any]]:
    conn = server.connection()
    try:
        yield conn.stub(queues_pb2_grpc.QueueServiceStub), conn.metadata
    finally:
        await conn.close()


async def _refused(call: Any, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value.details() or ""


async def _stored(room: RoomClient) -> list[tuple[str, int, int, int]]:
    return [(q.name, q.depth, q.delayed, q.in_flight) for q in await room.queues.list()]


async def test_malformed_json_names_the_position_and_stores_nothing(stub: Any,
                                                                    room: RoomClient) -> None:
    queues, metadata = stub
    await room.queues.send(name="jobs", message="kept")
    before = await _stored(room)
    # Given a batch whose third message is malformed
    request = queues_pb2.SendRequest(room=room.room_name, queue="jobs", messages=[
        queues_pb2.OutgoingMessage(json='{"ok": 1}'),
        queues_pb2.OutgoingMessage(json="[1, 2]"),
        queues_pb2.OutgoingMessage(json='{"a": 1,, }'),
    ])
    detail = await _refused(queues.Send(request, metadata=metadata, timeout=10),
                            grpc.StatusCode.INVALID_ARGUMENT)
    # Then the message names the message and the position, and nothing of the batch is stored
    assert "messages[2]" in detail and "column 9" in detail, detail
    assert await _stored(room) == before


async def test_message_over_the_size_limit(stub: Any, room: RoomClient) -> None:
    queues, metadata = stub
    await room.queues.open("jobs")
    big = '"' + "x" * (MiB + 10) + '"'
    request = queues_pb2.SendRequest(room=room.room_name, queue="jobs",
                                     messages=[queues_pb2.OutgoingMessage(json=big)])
    detail = await _refused(queues.Send(request, metadata=metadata, timeout=10),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert "limit" in detail
    assert await _stored(room) == [("jobs", 0, 0, 0)]


@pytest.mark.parametrize("room_name,queue_name", [
    ("bad room", "jobs"), ("", "jobs"), ("-leading", "jobs"), ("ok", "a/b"), ("ok", "x" * 129),
])
async def test_bad_names_are_invalid_argument(stub: Any, room_name: str,
                                              queue_name: str) -> None:
    queues, metadata = stub
    request = queues_pb2.SendRequest(room=room_name, queue=queue_name, create=True,
                                     messages=[queues_pb2.OutgoingMessage(json="1")])
    detail = await _refused(queues.Send(request, metadata=metadata, timeout=10),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert "room" in detail or "queue" in detail


async def test_missing_queue_without_create_is_not_found(room: RoomClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await room.queues.send(name="jobs", message=1, create=False)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await room.queues.peek("jobs")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_closed_queue_refuses_send_and_receive(room: RoomClient) -> None:
    await room.queues.send(name="jobs", message="before")
    await room.queues.close("jobs")
    before = await _stored(room)
    for call in (room.queues.send(name="jobs", message="after"),
                 room.queues.receive(name="jobs", wait=False),
                 room.queues.receive_leased(name="jobs", wait=False)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await _stored(room) == before
    await room.queues.open("jobs")
    assert await room.queues.receive(name="jobs", wait=False) == "before"


@pytest.mark.parametrize("field,value", [
    ("delay_seconds", -1.0), ("delay_seconds", float("nan")), ("dedup_id", "d" * 10_000),
])
async def test_bad_message_options(stub: Any, room: RoomClient, field: str,
                                   value: Any) -> None:
    queues, metadata = stub
    await room.queues.open("jobs")
    message = queues_pb2.OutgoingMessage(json="1", **{field: value})
    request = queues_pb2.SendRequest(room=room.room_name, queue="jobs", messages=[message])
    await _refused(queues.Send(request, metadata=metadata, timeout=10),
                   grpc.StatusCode.INVALID_ARGUMENT)
    assert await _stored(room) == [("jobs", 0, 0, 0)]


async def test_bad_receive_and_settle_arguments(stub: Any, room: RoomClient) -> None:
    queues, metadata = stub
    await room.queues.send(name="jobs", message=1)
    before = await _stored(room)
    bad_calls = [
        queues.Receive(queues_pb2.ReceiveRequest(room=room.room_name, queue="jobs", wait=True,
                                                 timeout_seconds=3600), metadata=metadata,
                       timeout=10),
        queues.Receive(queues_pb2.ReceiveRequest(room=room.room_name, queue="jobs",
                                                 lease_seconds=-5), metadata=metadata,
                       timeout=10),
        queues.ExtendLease(queues_pb2.ExtendLeaseRequest(
            room=room.room_name, queue="jobs",
            extends=[queues_pb2.ExtendItem(lease_token="t", seconds=-1)]),
            metadata=metadata, timeout=10),
    ]
    for call in bad_calls:
        await _refused(call, grpc.StatusCode.INVALID_ARGUMENT)
    assert await _stored(room) == before
    # And the server keeps serving
    assert await room.queues.receive(name="jobs", wait=False) == 1
