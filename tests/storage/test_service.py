"""StorageService end to end: StorageClient -> real gRPC on loopback -> files on disk."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from meshq.api.connection import Connection
from meshq.api.storage import StorageClient
from meshq.v1 import storage_pb2, storage_pb2_grpc


async def status_of(coro: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coro  # type: ignore[misc]
    return caught.value.code()


async def test_text_round_trip_and_file_on_disk(storage: StorageClient, room_dir: Path) -> None:
    info = await storage.write("poems/poem.txt", "roses are red — ai")
    assert (info.path, info.size, info.is_dir) == ("poems/poem.txt", len("roses are red — ai".encode()), False)
    assert (room_dir / "poems" / "poem.txt").read_text() == "roses are red — ai"
    assert await storage.read("poems/poem.txt") == "roses are red — ai".encode()
    assert await storage.exists("poems/poem.txt") and not await storage.exists("nope.txt")


async def test_several_mib_streamed_both_ways(storage: StorageClient) -> None:
    payload = os.urandom(6 * 1024 * 1024 + 123)

    async def parts() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 300_000):
            yield payload[i:i + 300_000]

    info = await storage.write("big/blob.bin", parts())
    assert info.size == len(payload)
    chunks = [c async for c in storage.read_stream("big/blob.bin")]
    assert len(chunks) == -(-len(payload) // (64 * 1024))
    assert b"".join(chunks) == payload
    assert await storage.read("big/blob.bin", offset=5_000_000, length=10) == payload[5_000_000:5_000_010]


async def test_over_the_limit_is_resource_exhausted(small_limit_server) -> None:
    async with Connection(server=small_limit_server.address, token="-") as conn:
        storage = StorageClient(conn, "limits")
        await storage.write("limit.bin", b"keep")
        too_big = b"x" * (small_limit_server.max_file_bytes + 1)
        code = await status_of(storage.write("limit.bin", too_big))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await storage.read("limit.bin") == b"keep"


async def test_list_stat_move_delete(storage: StorageClient) -> None:
    for path in ("a.txt", "d/b.txt", "d/e/c.txt"):
        await storage.write(path, path)
    assert [f.path for f in await storage.list()] == ["a.txt", "d"]
    assert [f.path for f in await storage.list("d", recursive=True)] == ["d/b.txt", "d/e", "d/e/c.txt"]
    assert (await storage.stat("d")).is_dir
    moved = await storage.move("a.txt", "z/a.txt")
    assert moved.path == "z/a.txt" and await storage.read("z/a.txt") == b"a.txt"
    await storage.delete("d", recursive=True)
    assert [f.path for f in await storage.list(recursive=True)] == ["z", "z/a.txt"]


@pytest.mark.parametrize(
    "path", ["../x", "a/../../b", "/etc/passwd", "a\x00b", "a\\b", "a//b", ""])
async def test_bad_paths_are_invalid_argument_everywhere(storage: StorageClient, path: str) -> None:
    assert await status_of(storage.write(path, b"x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert await status_of(storage.read(path)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await status_of(storage.delete(path)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await status_of(storage.move("ok.txt", path)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_status_codes(storage: StorageClient) -> None:
    await storage.write("f/one.txt", b"1")
    assert await status_of(storage.read("missing.txt")) == grpc.StatusCode.NOT_FOUND
    assert await status_of(storage.stat("missing.txt")) == grpc.StatusCode.NOT_FOUND
    assert await status_of(storage.write("f/one.txt", b"2", overwrite=False)) == grpc.StatusCode.ALREADY_EXISTS
    assert await status_of(storage.delete("f")) == grpc.StatusCode.FAILED_PRECONDITION
    assert await status_of(storage.read("f/one.txt", offset=5)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await read_text(storage, "f/one.txt") == "1"


async def read_text(storage: StorageClient, path: str) -> str:
    return (await storage.read(path)).decode()


async def test_symlink_out_of_the_room_refused_over_grpc(
    storage: StorageClient, room_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path, room_dir / "escape")
    os.symlink(tmp_path / "secret.txt", room_dir / "secret.txt")
    for call in (storage.read("secret.txt"), storage.read("escape/secret.txt"),
                 storage.write("escape/new.txt", b"x"), storage.list("escape"),
                 storage.write("secret.txt", b"overwritten")):
        err_code = await status_of(call)
        assert err_code == grpc.StatusCode.INVALID_ARGUMENT
    assert (tmp_path / "secret.txt").read_text() == "secret"
    assert not (tmp_path / "new.txt").exists()


async def test_bad_room_names_are_invalid_argument(conn: Connection) -> None:
    for room in ("../x", "", "a/b"):
        client = StorageClient(conn, room)
        code = await status_of(client.list())
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_write_stream_rules(conn: Connection, room: str) -> None:
    stub = conn.stub(storage_pb2_grpc.StorageServiceStub)

    async def frames(*items: storage_pb2.WriteFileRequest) -> AsyncIterator[storage_pb2.WriteFileRequest]:
        for item in items:
            yield item

    # An empty stream, or a first frame without a path, is refused
    code = await status_of(stub.WriteFile(frames(), timeout=10, metadata=conn.metadata))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code = await status_of(stub.WriteFile(frames(storage_pb2.WriteFileRequest(room=room)), timeout=10, metadata=conn.metadata))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # A later frame that names another path is refused and nothing is stored
    code = await status_of(stub.WriteFile(frames(
        storage_pb2.WriteFileRequest(room=room, path="a.txt", overwrite=True, data=b"1"),
        storage_pb2.WriteFileRequest(path="b.txt", data=b"2")), timeout=10, metadata=conn.metadata))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert not await StorageClient(conn, room).exists("a.txt")
    # An empty file is fine
    info = await StorageClient(conn, room).write("empty.txt", b"")
    assert info.size == 0 and await StorageClient(conn, room).read("empty.txt") == b""


async def test_rooms_are_separate(conn: Connection, room: str) -> None:
    await StorageClient(conn, room).write("shared-name.txt", b"mine")
    other = StorageClient(conn, room + "-other")
    assert not await other.exists("shared-name.txt")
    assert await other.list() == []
