"""docs/security.md's limits table says what the server answers: each row is hit for real.

A server with small limits (the same settings the flags set) is driven past each one, and
the code it answers must be the table's. A row without a way to hit it here fails the test,
so the table cannot grow a limit nobody checked.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from meshq.api.connection import MAX_MESSAGE_BYTES
from meshq.api.rooms import RoomClient
from meshq.queue.model import QueueLimits
from meshq.server.app import Stack, StackConfig
from meshq.server.runner import open_stack
from meshq.v1 import queues_pb2, queues_pb2_grpc

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
LIMITS = QueueLimits(max_message_bytes=200, max_batch=3, max_queues_per_room=2, max_depth=3)
MAX_STREAMS, MAX_FILE_BYTES = 2, 1000


def documented_limits() -> dict[str, str]:
    """limit (first column) -> code (last column) of the table between the markers."""
    table = DOC.read_text().split("<!-- limits:begin -->")[1].split("<!-- limits:end -->")[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in table.strip().splitlines()[2:]]
    return {cells[0]: cells[-1] for cells in rows}


@pytest.fixture(scope="module")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    stack = await open_stack(StackConfig(
        data_dir=tmp_path_factory.mktemp("limits"), listen="127.0.0.1:0",
        services=("queue", "storage"),
        settings={"queue_limits": LIMITS, "max_streams_per_token": MAX_STREAMS,
                  "max_file_bytes": MAX_FILE_BYTES}))
    yield stack
    await stack.stop(grace=0.5)


async def _code(call: Awaitable[object]) -> str:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code().name
    return "OK"


def _room(stack: Stack) -> RoomClient:
    return RoomClient(room="r-" + uuid.uuid4().hex[:10], server=stack.address,
                      token=stack.context.token, timeout=30)


async def message_size(stack: Stack) -> str:
    async with _room(stack) as room:
        return await _code(room.queues.send("q", "x" * LIMITS.max_message_bytes))


async def batch(stack: Stack) -> str:
    async with _room(stack) as room:
        return await _code(room.queues.send_many("q", list(range(LIMITS.max_batch + 1))))


async def queues_per_room(stack: Stack) -> str:
    async with _room(stack) as room:
        for i in range(LIMITS.max_queues_per_room + 1):
            code = await _code(room.queues.open(f"q{i}"))
            if code != "OK":
                return code
    return "OK"


async def depth(stack: Stack) -> str:
    async with _room(stack) as room:
        await room.queues.send_many("q", list(range(LIMITS.max_depth)))
        return await _code(room.queues.send("q", "one too many"))


async def streams(stack: Stack) -> str:
    async with _room(stack) as room:
        held = [await room.queues.subscribe("q").open() for _ in range(MAX_STREAMS)]
        try:
            return await _code(room.queues.subscribe("q").open())
        finally:
            for sub in held:
                await sub.close()


async def file_size(stack: Stack) -> str:
    async with _room(stack) as room:
        return await _code(room.storage.write("big.bin", b"x" * (MAX_FILE_BYTES + 1)))


async def grpc_frame(stack: Stack) -> str:
    huge = "x" * (MAX_MESSAGE_BYTES + 1)
    async with grpc.aio.insecure_channel(stack.address) as channel:
        stub = queues_pb2_grpc.QueueServiceStub(channel)
        request = queues_pb2.SendRequest(room="r", queue="q", create=True,
                                         messages=[queues_pb2.OutgoingMessage(json=huge)])
        return await _code(stub.Send(request, metadata=(
            ("authorization", f"Bearer {stack.context.token}"),), timeout=60))


TRIGGERS: dict[str, Callable[[Stack], Awaitable[str]]] = {
    "message size (body + headers)": message_size,
    "messages or settles per call": batch,
    "queues per room": queues_per_room,
    "messages per queue": depth,
    "open streams per token (Subscribe, WriteFile, ReadFile)": streams,
    "room file size": file_size,
    "gRPC frame": grpc_frame,
}


def test_every_documented_limit_is_checked_here() -> None:
    assert set(documented_limits()) == set(TRIGGERS)


@pytest.mark.parametrize("limit", list(TRIGGERS))
async def test_the_server_answers_the_documented_code(small: Stack, limit: str) -> None:
    assert await TRIGGERS[limit](small) == documented_limits()[limit]
