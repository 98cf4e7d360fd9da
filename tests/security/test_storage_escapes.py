"""Room storage path escapes are refused: "..", absolute paths, encoded dots, NUL, a symlink
that leads out of the room; and nothing outside the room is read or written."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from meshq.v1 import storage_pb2, storage_pb2_grpc

from .conftest import LiveServer

ESCAPES = ["../x.txt", "../../etc/passwd", "/etc/passwd", "a/../../x.txt", "a\x00b",
           "..\\x.txt", "docs//x"]


def md(live: LiveServer) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {live.admin_token}"),)


@pytest.fixture
def storage(live: LiveServer, channel: grpc.aio.Channel) -> storage_pb2_grpc.StorageServiceStub:
    assert "meshq.v1.StorageService" in live.hosted, "the storage service must be hosted"
    return storage_pb2_grpc.StorageServiceStub(channel)


async def _write(stub: storage_pb2_grpc.StorageServiceStub, live: LiveServer, room: str,
                 path: str, data: bytes) -> grpc.StatusCode:
    try:
        await stub.WriteFile(iter([storage_pb2.WriteFileRequest(room=room, path=path, data=data,
                                                                overwrite=True)]),
                             metadata=md(live), timeout=5)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_lexical_escapes_are_invalid_argument_for_every_storage_rpc(
    live: LiveServer, storage: storage_pb2_grpc.StorageServiceStub, room: str
) -> None:
    assert await _write(storage, live, room, "inside.txt", b"hello") == grpc.StatusCode.OK
    for path in ESCAPES:
        assert await _write(storage, live, room, path, b"x") == \
            grpc.StatusCode.INVALID_ARGUMENT, path
        for call in (
            storage.StatFile(storage_pb2.StatFileRequest(room=room, path=path),
                             metadata=md(live), timeout=5),
            storage.DeleteFile(storage_pb2.DeleteFileRequest(room=room, path=path),
                               metadata=md(live), timeout=5),
            storage.MoveFile(storage_pb2.MoveFileRequest(room=room, source="inside.txt",
                                                         destination=path),
                             metadata=md(live), timeout=5),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
    # "%2e%2e" is a literal name, not "..": it stays inside the room
    assert await _write(storage, live, room, "%2e%2e/x.txt", b"y") == grpc.StatusCode.OK
    assert not (live.data_dir / "storage" / "x.txt").exists()


async def test_a_symlink_out_of_the_room_is_refused(
    live: LiveServer, storage: storage_pb2_grpc.StorageServiceStub, room: str, tmp_path: Path
) -> None:
    # Given a room with a file, and someone with disk access planted a link to a folder outside
    assert await _write(storage, live, room, "inside.txt", b"hello") == grpc.StatusCode.OK
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    room_dirs = [p for p in (live.data_dir / "storage").rglob("inside.txt")
                 if p.parent.name == room]
    assert room_dirs, "cannot find the room's folder on disk"
    os.symlink(outside, room_dirs[0].parent / "link")
    # When a caller reads, writes or lists through the link, Then it is refused
    reads = storage.ReadFile(storage_pb2.ReadFileRequest(room=room, path="link/secret.txt"),
                             metadata=md(live), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in reads:
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await _write(storage, live, room, "link/new.txt", b"x") == \
        grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.ListFiles(storage_pb2.ListFilesRequest(room=room, path="link"),
                                metadata=md(live), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # And nothing outside changed
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"
