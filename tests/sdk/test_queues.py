"""Every queue RPC through the SDK, against the real server."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from meshq.api.messages import NoLease, StaleLease
from meshq.api.rooms import RoomClient
from meshq.v1 import queues_pb2, queues_pb2_grpc


async def test_send_then_receive_pops_the_json_value(room: RoomClient) -> None:
    # Given a message sent as a Python value
    message_id = await room.queues.send(name="jobs", message={"prompt": "hi", "n": [1, 2]})
    # When it is received MeshAgent-style (auto-acked)
    body = await room.queues.receive(name="jobs", wait=False)
    # Then the same value comes back, and it is gone from the queue
    assert body == {"prompt": "hi", "n": [1, 2]}
    assert (await room.queues.message_state("jobs", message_id)).state == "gone"
    assert await room.queues.receive(name="jobs", wait=False) is None


async def test_receive_waits_for_a_message_sent_later(room: RoomClient) -> None:
    import asyncio

    await room.queues.open("jobs")
    waiting = asyncio.create_task(room.queues.receive(name="jobs", wait=True, timeout=10))
    await room.queues.send(name="jobs", message="late")
    assert await asyncio.wait_for(waiting, 10) == "late"


async def test_receive_wait_times_out_empty(room: RoomClient) -> None:
    await room.queues.open("jobs")
    assert await room.queues.receive(name="jobs", wait=True, timeout=0.2) is None


async def test_send_many_keeps_order_and_ids(room: RoomClient) -> None:
    ids = await room.queues.send_many(name="jobs", messages=list(range(25)), batch_size=10)
    assert len(set(ids)) == 25
    got = await room.queues.receive_leased(name="jobs", max_messages=25, wait=False)
    assert [m.body for m in got] == list(range(25))
    assert [m.message_id for m in got] == ids


async def test_leased_message_ack_nack_extend(room: RoomClient) -> None:
    await room.queues.send(name="jobs", message={"a": 1}, headers={"k": "v"})
    [msg] = await room.queues.receive_leased(name="jobs", wait=False, lease=30)
    assert msg.attempt == 1 and msg.headers["k"] == "v" and msg.queue == "jobs"
    assert (await room.queues.message_state("jobs", msg.message_id)).state == "in_flight"

    await msg.extend(60)
    await msg.nack(error="boom")
    # The nack hands it back with its error recorded; the next delivery is attempt 2.
    [again] = await room.queues.receive_leased(name="jobs", wait=False)
    assert again.message_id == msg.message_id and again.attempt == 2
    assert again.headers["x-meshq-last-error"] == "boom"
    await again.ack()
    assert (await room.queues.message_state("jobs", msg.message_id)).state == "gone"


async def test_stale_lease_is_refused_and_reported(room: RoomClient) -> None:
    await room.queues.send(name="jobs", message=1)
    [msg] = await room.queues.receive_leased(name="jobs", wait=False)
    await msg.ack()
    with pytest.raises(StaleLease):
        await msg.ack()
    with pytest.raises(StaleLease):
        await msg.extend(10)
    assert await room.queues.ack("jobs", ["no-such-token"]) == [False]


async def test_peeked_message_cannot_be_settled(room: RoomClient) -> None:
    await room.queues.send(name="jobs", message=[1])
    [peeked] = await room.queues.peek("jobs", 5)
    assert peeked.body == [1] and peeked.lease_token == ""
    with pytest.raises(NoLease):
        await peeked.ack()
    # Peek leases nothing: the message is still ready.
    assert (await room.queues.message_state("jobs", peeked.message_id)).state == "ready"


async def test_open_list_close_reopen_drain_delete(room: RoomClient) -> None:
    info = await room.queues.open("jobs", max_deliveries=3, dedup_window=60)
    assert (info.max_deliveries, info.dedup_window_seconds, info.closed) == (3, 60, False)
    await room.queues.send_many(name="jobs", messages=["a", "b"])
    await room.queues.send(name="jobs", message="later", delay=3600)

    [listed] = [q for q in await room.queues.list() if q.name == "jobs"]
    assert (listed.depth, listed.delayed, listed.in_flight) == (2, 1, 0)

    await room.queues.close("jobs")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await room.queues.send(name="jobs", message="x")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Reopening with no options keeps the ones set before.
    reopened = await room.queues.open("jobs")
    assert (reopened.closed, reopened.max_deliveries) == (False, 3)

    assert await room.queues.drain("jobs") == 3
    await room.queues.delete("jobs")
    assert "jobs" not in [q.name for q in await room.queues.list()]


async def test_dedup_id_returns_the_first_id(room: RoomClient) -> None:
    first = await room.queues.send(name="jobs", message=1, dedup_id="order-7")
    second = await room.queues.send(name="jobs", message=2, dedup_id="order-7")
    assert first == second
    assert [m.body for m in await room.queues.peek("jobs", 10)] == [1]


async def test_a_message_dedup_window_reaches_the_server(room: RoomClient) -> None:
    first = await room.queues.send(name="jobs", message=1, dedup_id="o", dedup_window=30 * 86400)
    assert await room.queues.send(name="jobs", message=1, dedup_id="o") == first
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await room.queues.send(name="jobs", message=1, dedup_id="p", dedup_window=31 * 86400)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "dedup_window_seconds" in (err.value.details() or "")


async def test_dead_letter_then_redrive(room: RoomClient) -> None:
    await room.queues.open("jobs", max_deliveries=1)
    message_id = await room.queues.send(name="jobs", message="poison")
    [msg] = await room.queues.receive_leased(name="jobs", wait=False)
    await msg.nack()  # its one delivery failed: it moves to jobs.dlq
    [dead] = await room.queues.peek("jobs.dlq", 10)
    assert dead.message_id == message_id
    assert await room.queues.redrive("jobs") == 1
    [back] = await room.queues.receive_leased(name="jobs", wait=False)
    assert back.message_id == message_id and back.body == "poison"


async def test_receive_without_create_is_not_found(room: RoomClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await room.queues.receive(name="missing", create=False, wait=False)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_long_poll_ends_inside_the_callers_deadline(server: Any, room: RoomClient) -> None:
    # Given a Receive that asks to wait 30 s under a 1 s deadline
    await room.queues.open("jobs")
    conn = server.connection()
    try:
        stub = conn.stub(queues_pb2_grpc.QueueServiceStub)
        request = queues_pb2.ReceiveRequest(room=room.room_name, queue="jobs", wait=True,
                                            timeout_seconds=30)
        # Then the server answers empty before the deadline instead of DEADLINE_EXCEEDED
        response = await stub.Receive(request, metadata=conn.metadata, timeout=1.0)
        assert list(response.deliveries) == []
    finally:
        await conn.close()


async def test_extend_many_extends_every_held_lease_in_one_call(room: RoomClient) -> None:
    # Given three leased messages, one of them already acked
    await room.queues.send_many(name="jobs", messages=[1, 2, 3])
    held = await room.queues.receive_leased(name="jobs", max_messages=3, wait=False, lease=5)
    await held[0].ack()
    # When all three leases are extended in one call
    applied = await room.queues.extend_many("jobs", [m.lease_token for m in held], 120)
    # Then the two still held are extended and the acked one is reported stale
    assert applied == [False, True, True]
    assert await room.queues.ack("jobs", [m.lease_token for m in held[1:]]) == [True, True]
