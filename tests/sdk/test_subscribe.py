"""Subscribe: the streaming receive, through the SDK and frame by frame on the raw stub."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from meshq.api.connection import Connection
from meshq.api.messages import ReceivedMessage, StaleLease
from meshq.api.rooms import RoomClient
from meshq.v1 import queues_pb2, queues_pb2_grpc

LATENCY_BOUND = 0.050  # seconds: the "well under 50 ms", asserted on the median


@pytest.fixture
async def raw(server: Any) -> AsyncIterator[queues_pb2_grpc.QueueServiceStub]:
    conn: Connection = server.connection()
    try:
        yield conn.stub(queues_pb2_grpc.QueueServiceStub)
    finally:
        await conn.close()


def _open(room: str, queue: str, window: int, create: bool = True) -> queues_pb2.SubscribeRequest:
    return queues_pb2.SubscribeRequest(open=queues_pb2.SubscribeOpen(
        room=room, queue=queue, max_in_flight=window, create=create))


async def _next(sub: Any) -> ReceivedMessage:
    return await asyncio.wait_for(anext(sub), 10)


async def _wait_state(room: RoomClient, message_id: str, state: str) -> None:
    """Poll the message's state until it is ``state`` (the server acts after the stream ends)."""
    deadline = time.monotonic() + 10
    while (await room.queues.message_state("jobs", message_id)).state != state:
        assert time.monotonic() < deadline, f"{message_id} never became {state}"
        await asyncio.sleep(0.01)


async def test_ready_messages_arrive_batched_in_one_frame(
        raw: queues_pb2_grpc.QueueServiceStub, room: RoomClient, server: Any) -> None:
    # Given 20 ready messages
    await room.queues.send_many(name="jobs", messages=list(range(20)))
    # When a consumer opens with a window of 20
    call = raw.Subscribe(metadata=server.connection().metadata)
    await call.write(_open(room.room_name, "jobs", 20))
    opened = await call.read()
    assert not opened.deliveries and not opened.results  # the empty frame confirming the open
    # Then all 20 come in one frame, oldest first
    frame = await asyncio.wait_for(call.read(), 10)
    assert [int(d.json) for d in frame.deliveries] == list(range(20))
    # And one frame of acks (one of them bogus) is answered in one frame of results
    tokens = [d.lease_token for d in frame.deliveries]
    await call.write(queues_pb2.SubscribeRequest(ack_tokens=[*tokens, "bogus"]))
    results = (await asyncio.wait_for(call.read(), 10)).results
    outcomes = {r.lease_token: r.outcome for r in results}
    assert all(outcomes[t] == queues_pb2.SETTLE_OUTCOME_OK for t in tokens)
    assert outcomes["bogus"] == queues_pb2.SETTLE_OUTCOME_STALE
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert (await room.queues.list())[0].depth == 0


async def test_ack_nack_extend_on_the_stream(room: RoomClient) -> None:
    async with room.queues.subscribe(name="jobs", max_in_flight=5) as sub:
        await room.queues.send_many(name="jobs", messages=["a", "b"])
        first, second = await _next(sub), await _next(sub)
        await first.extend(60)
        await first.ack()
        with pytest.raises(StaleLease):  # a settled lease is refused and reported
            await first.ack()
        await second.nack(error="try again")
        again = await _next(sub)
        assert (again.message_id, again.attempt, again.body) == (second.message_id, 2, "b")
        assert again.headers["x-meshq-last-error"] == "try again"
        await again.ack()
    assert [q.depth + q.in_flight for q in await room.queues.list()] == [0]


async def test_closing_hands_unsettled_deliveries_back(room: RoomClient) -> None:
    message_id = await room.queues.send(name="jobs", message="job")
    async with room.queues.subscribe(name="jobs", max_in_flight=1) as sub:
        msg = await _next(sub)
        assert (await room.queues.message_state("jobs", msg.message_id)).state == "in_flight"
    # close() returns after the server ended the stream, so the hand-back is done
    assert (await room.queues.message_state("jobs", message_id)).state == "ready"
    [back] = await room.queues.receive_leased(name="jobs", wait=False)
    assert back.message_id == message_id


async def test_cancelled_stream_hands_deliveries_back(
        raw: queues_pb2_grpc.QueueServiceStub, room: RoomClient, server: Any) -> None:
    message_id = await room.queues.send(name="jobs", message="job")
    call = raw.Subscribe(metadata=server.connection().metadata)
    await call.write(_open(room.room_name, "jobs", 1))
    await call.read()
    assert (await asyncio.wait_for(call.read(), 10)).deliveries[0].message_id == message_id
    call.cancel()
    await _wait_state(room, message_id, "ready")


async def test_pause_with_window_zero_then_resume(room: RoomClient) -> None:
    async with room.queues.subscribe(name="jobs", max_in_flight=1) as sub:
        await room.queues.send(name="jobs", message=1)
        first = await _next(sub)
        sub.pause()
        await first.extend(30)  # answered after the pause frame: the window is 0 now
        await first.ack()
        # A message sent while paused is not taken by the subscriber...
        await room.queues.send(name="jobs", message=2)
        [leased] = await room.queues.receive_leased(name="jobs", wait=False)
        assert leased.body == 2
        await leased.nack()
        # ...until it resumes.
        sub.resume()
        assert (await _next(sub)).body == 2


async def test_idle_subscriber_gets_a_new_message_quickly(room: RoomClient) -> None:
    # Given a subscriber idle on an empty queue
    latencies = []
    async with room.queues.subscribe(name="jobs", max_in_flight=1) as sub:
        for i in range(7):
            started = time.perf_counter()
            await room.queues.send(name="jobs", message=i)
            msg = await _next(sub)
            latencies.append(time.perf_counter() - started)
            assert msg.body == i
            await msg.ack()
    # Then send -> delivery (fsync included) is well under 50 ms: no polling interval.
    assert statistics.median(latencies) < LATENCY_BOUND, latencies


async def test_deleting_the_queue_ends_the_subscription(room: RoomClient) -> None:
    async with room.queues.subscribe(name="jobs", max_in_flight=1) as sub:
        await room.queues.delete("jobs")
        with pytest.raises(StopAsyncIteration):
            await _next(sub)


async def test_subscribe_errors_surface_when_opening(room: RoomClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async with room.queues.subscribe(name="missing", create=False):
            pass
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async with room.queues.subscribe(name="bad name!"):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("frames", [
    [],  # the stream ends before any frame
    [queues_pb2.SubscribeRequest(ack_tokens=["x"])],  # the first frame has no open
])
async def test_first_frame_must_carry_open(
        raw: queues_pb2_grpc.QueueServiceStub, server: Any,
        frames: list[queues_pb2.SubscribeRequest]) -> None:
    call = raw.Subscribe(metadata=server.connection().metadata)
    for frame in frames:
        await call.write(frame)
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # (the auth interceptor may refuse it before the servicer: either message names the cause)
    details = err.value.details() or ""
    assert "open" in details or "first frame" in details, details


async def test_open_twice_is_refused(raw: queues_pb2_grpc.QueueServiceStub, server: Any,
                                     unique: str) -> None:
    call = raw.Subscribe(metadata=server.connection().metadata)
    await call.write(_open(unique, "jobs", 1))
    await call.read()
    await call.write(_open(unique, "jobs", 1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(call.read(), 10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("bad", [
    queues_pb2.SubscribeRequest(nacks=[queues_pb2.NackItem(lease_token="x", delay_seconds=-1)]),
    queues_pb2.SubscribeRequest(extends=[queues_pb2.ExtendItem(lease_token="x", seconds=0)]),
    queues_pb2.SubscribeRequest(max_in_flight=10**9),
])
async def test_a_frame_with_a_bad_item_is_refused_whole(
        raw: queues_pb2_grpc.QueueServiceStub, server: Any, room: RoomClient,
        bad: queues_pb2.SubscribeRequest) -> None:
    message_id = await room.queues.send("jobs", {"n": 1})
    call = raw.Subscribe(metadata=server.connection().metadata)
    await call.write(_open(room.room_name, "jobs", 1))
    await call.read()
    [delivery] = (await asyncio.wait_for(call.read(), 10)).deliveries
    frame = queues_pb2.SubscribeRequest()
    frame.CopyFrom(bad)
    frame.ack_tokens.append(delivery.lease_token)
    await call.write(frame)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(call.read(), 10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The ack in that frame was not applied: the stream's end handed the message back.
    await _wait_state(room, message_id, "ready")
