"""Bodies and payloads must be JSON text (RFC 8259): Python's json reads NaN and Infinity,
a Node consumer's JSON.parse throws on them, so one producer could break every consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from meshq.v1 import queues_pb2, queues_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc

NOT_JSON = ["NaN", "Infinity", "-Infinity", '{"a": -Infinity}', "[1, NaN]", " NaN ",
            '{"deep": [{"x": Infinity}]}']


@pytest.fixture
async def channel(server: Any) -> AsyncIterator[tuple[grpc.aio.Channel, tuple[Any, ...]]]:
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch, (("authorization", f"Bearer {server.token}"),)


@pytest.mark.parametrize("body", NOT_JSON)
async def test_send_refuses_nan_and_infinity_and_stores_nothing(
    channel: tuple[grpc.aio.Channel, Any], unique: str, body: str
) -> None:
    ch, md = channel
    stub = queues_pb2_grpc.QueueServiceStub(ch)
    request = queues_pb2.SendRequest(room=unique, queue="q", create=True, messages=[
        queues_pb2.OutgoingMessage(json="1"), queues_pb2.OutgoingMessage(json=body)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Send(request, metadata=md, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[1].json must be JSON text (RFC 8259)" in (caught.value.details() or "")
    # the valid first message of the batch was not stored either
    await stub.Send(queues_pb2.SendRequest(room=unique, queue="q", create=True, messages=[
        queues_pb2.OutgoingMessage(json='"marker"')]), metadata=md, timeout=10)
    got = await stub.Receive(queues_pb2.ReceiveRequest(room=unique, queue="q", max_messages=10,
                                                       auto_ack=True), metadata=md, timeout=10)
    assert [d.json for d in got.deliveries] == ['"marker"']


async def test_ordinary_numbers_still_pass(channel: tuple[grpc.aio.Channel, Any],
                                           unique: str) -> None:
    ch, md = channel
    stub = queues_pb2_grpc.QueueServiceStub(ch)
    await stub.Send(queues_pb2.SendRequest(room=unique, queue="q", create=True, messages=[
        queues_pb2.OutgoingMessage(json='{"n": -1.5e300, "s": "NaN"}')]), metadata=md,
        timeout=10)


@pytest.mark.parametrize("payload", ["NaN", '{"a": Infinity}'])
async def test_add_task_refuses_a_nan_payload(channel: tuple[grpc.aio.Channel, Any],
                                              unique: str, payload: str) -> None:
    ch, md = channel
    stub = scheduler_pb2_grpc.SchedulerServiceStub(ch)
    spec = scheduler_pb2.TaskSpec(room=unique, queue="q", schedule="* * * * *",
                                  payload_json=payload, active=True)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AddTask(scheduler_pb2.AddTaskRequest(spec=spec), metadata=md, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "JSON text (RFC 8259)" in (caught.value.details() or "")
