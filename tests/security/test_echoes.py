"""Every echoed value in an error message is cut short and escaped (one helper,
``meshq.core.validation.shown``), so a huge or hostile field never makes the status itself
fail (details over the metadata limit turn NOT_FOUND into RESOURCE_EXHAUSTED) nor puts
control characters in a log line or a terminal."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor as FD

from meshq.core.validation import MAX_STATUS_MESSAGE_CHARS
from meshq.security.rpc_table import DOCUMENTED_CODES
from meshq.v1 import scheduler_pb2, scheduler_pb2_grpc

from .conftest import LiveServer, all_services, message_class
from .rpc import call, full_name

HUGE = "\x1b[31m" + "z" * 20_000 + "\n"
ECHO_LIMIT = "z" * 100  # shown() keeps 40 characters; a run this long was not cut


def _fill(msg: Any, descriptor: Any, value: str, depth: int = 0, room: str = "") -> Any:
    """Every string field (nested ones too, one element of repeated ones) set to value;
    with ``room``, fields named room get it, so the request gets past the room check."""
    for field in descriptor.fields:
        if room and field.name == "room":
            setattr(msg, field.name, room)
            continue
        repeated = field.is_repeated
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(msg, field.name)[value] = value
        elif field.message_type is not None and depth < 2:
            sub = getattr(msg, field.name).add() if repeated else getattr(msg, field.name)
            _fill(sub, field.message_type, value, depth + 1, room)
        elif field.type == FD.TYPE_STRING:
            if repeated:
                getattr(msg, field.name).append(value)
            else:
                setattr(msg, field.name, value)
    return msg


@pytest.mark.parametrize("room", ["", "echo-room"], ids=["every-field", "valid-room"])
@pytest.mark.parametrize("method", [pytest.param(m, id=full_name(m))
                                    for s in all_services() for m in s.methods])
async def test_a_huge_field_is_echoed_cut_and_escaped(
    live: LiveServer, channel: grpc.aio.Channel, method: Any, room: str
) -> None:
    request = _fill(message_class(method.input_type)(), method.input_type, HUGE, room=room)
    code, details = await call(channel, method, request, token=live.admin_token, timeout=10)
    assert code.name in DOCUMENTED_CODES[full_name(method)], (code, details[:200])
    assert ECHO_LIMIT not in details, details[:200]
    assert "\x1b" not in details and "\n" not in details, details[:200]
    assert len(details) <= MAX_STATUS_MESSAGE_CHARS


@pytest.mark.parametrize("rpc", ["GetTask", "UpdateTask", "DeleteTask", "TriggerTask",
                                 "ListRuns"])
async def test_a_20000_character_task_id_is_not_found(
    live: LiveServer, channel: grpc.aio.Channel, rpc: str
) -> None:
    stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
    request_class = getattr(scheduler_pb2, f"{rpc}Request")
    request = request_class(task_id="t" * 20_000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stub, rpc)(request, metadata=(
            ("authorization", f"Bearer {live.admin_token}"),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
    assert len(caught.value.details() or "") < 200
