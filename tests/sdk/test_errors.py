"""`meshq.api.errors`: the one status -> exception table, raised by the SDK, read by the CLI."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from meshq.api import errors
from meshq.api.client import MeshqClient
from meshq.cli.common import (
    EXIT_DENIED,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_code,
)


def test_every_failure_status_has_a_class() -> None:
    failing = [code for code in grpc.StatusCode if code is not grpc.StatusCode.OK]
    assert sorted(c.name for c in failing) == sorted(c.name for c in errors.STATUS_ERRORS)
    for code in failing:
        err = errors.make_error(code, "why")
        assert isinstance(err, errors.MeshqRpcError)
        assert isinstance(err, grpc.aio.AioRpcError)  # old `except AioRpcError` still catches
        assert err.code() is code and err.details() == "why"
        assert str(err) == f"{code.name}: why"


@pytest.mark.parametrize(("code", "exit"), [
    (grpc.StatusCode.NOT_FOUND, EXIT_NOT_FOUND),
    (grpc.StatusCode.UNAVAILABLE, EXIT_UNREACHABLE),
    (grpc.StatusCode.DEADLINE_EXCEEDED, EXIT_UNREACHABLE),
    (grpc.StatusCode.PERMISSION_DENIED, EXIT_DENIED),
    (grpc.StatusCode.UNAUTHENTICATED, EXIT_DENIED),
    (grpc.StatusCode.INVALID_ARGUMENT, EXIT_USAGE),
    (grpc.StatusCode.ALREADY_EXISTS, EXIT_REFUSED),
    (grpc.StatusCode.FAILED_PRECONDITION, EXIT_REFUSED),
    (grpc.StatusCode.INTERNAL, EXIT_REFUSED),
])
def test_cli_exit_codes_come_from_the_classes(code: grpc.StatusCode, exit: int) -> None:
    assert exit_code(errors.make_error(code, "x")) == exit


async def test_sdk_calls_raise_typed_errors(client: MeshqClient, unique: str) -> None:
    # Given a room with no queue "missing"
    room = client.room(unique)
    await client.rooms.create(unique)
    # When a call names it, Then NotFound (also an AioRpcError with its status)
    with pytest.raises(errors.NotFound) as caught:
        await room.queues.message_state("missing", "0" * 32)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND and caught.value.message
    # And a duplicate room is AlreadyExists; a bad name InvalidArgument
    with pytest.raises(errors.AlreadyExists):
        await client.rooms.create(unique)
    with pytest.raises(errors.InvalidArgument):
        await client.rooms.create("bad name!")


async def test_bad_token_is_denied(server: Any) -> None:
    async with MeshqClient(server=server.address, token="not-a-token", timeout=10) as c:
        with pytest.raises(errors.Unauthenticated):
            await c.rooms.list()


async def test_stream_calls_raise_typed_errors_too(client: MeshqClient, unique: str) -> None:
    await client.rooms.create(unique)
    storage = client.room(unique).storage
    with pytest.raises(errors.NotFound):
        await storage.read("missing.txt")
    with pytest.raises(errors.InvalidArgument):
        await storage.write("../escape.txt", b"x")
