"""Filesystem conditions answer what docs/storage.md promises, never INTERNAL.

Loops and dangling links are left out of listings and answer FAILED_PRECONDITION / NOT_FOUND
when named; a full volume (a real 1 MiB tmpfs) is RESOURCE_EXHAUSTED and a read-only one
(the same tmpfs remounted read-only) UNAVAILABLE, with the old file untouched and no temp
file left. Mounting needs root: outside CI the tmpfs tests skip saying so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from meshq.api.connection import Connection
from meshq.api.storage import StorageClient
from meshq.server.app import StackConfig, start_stack

TMPFS_BYTES = 1024 * 1024


async def status_of(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coro  # type: ignore[misc]
    return caught.value


async def test_loops_and_dangling_links_are_left_out_of_listings(
    storage: StorageClient, room_dir: Path
) -> None:
    # Given a room with a file, a link loop and a dangling link
    await storage.write("keep.txt", "kept")
    os.symlink("loop", room_dir / "loop")
    os.symlink("nowhere", room_dir / "dangling")
    # When the room is listed, Then only the file shows, flat and recursive
    assert [f.path for f in await storage.list()] == ["keep.txt"]
    assert [f.path for f in await storage.list(recursive=True)] == ["keep.txt"]
    # And naming the loop says what it is; naming the dangling link says it is not there
    for call in (storage.stat("loop"), storage.read("loop")):
        err = await status_of(call)
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "symbolic link loop" in (err.details() or "")
    assert (await status_of(storage.stat("dangling"))).code() == grpc.StatusCode.NOT_FOUND
    # And the loop can be deleted through the API
    await storage.delete("loop")
    assert not os.path.lexists(room_dir / "loop")


async def test_a_path_through_a_file_is_not_found(storage: StorageClient) -> None:
    await storage.write("d", "a file, not a folder")
    for call in (storage.stat("d/x"), storage.read("d/x"), storage.list("d/x"),
                 storage.delete("d/x")):
        assert (await status_of(call)).code() == grpc.StatusCode.NOT_FOUND
    assert not await storage.exists("d/x")
    # writing there is refused because the file is in the way
    err = await status_of(storage.write("d/x", "y"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (root only) at ``<data dir>/storage``: the lock files stay outside
    it, so it can be remounted read-only under the running server."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: mounting a tmpfs must work there")
        pytest.skip("mounting a tmpfs needs root (CI runs these as root)")
    mount = tmp_path / "storage"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700", "tmpfs", str(mount)],
        capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"mounting a tmpfs failed in CI: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); CI can")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
async def volume_storage(tmpfs: Path) -> AsyncIterator[StorageClient]:
    """A storage-only server whose storage folder is the tmpfs."""
    stack = await start_stack(StackConfig(data_dir=tmpfs.parent, listen="127.0.0.1:0",
                                          services=("storage",), auth=False))
    try:
        async with Connection(server=stack.address, token="-", timeout=30) as conn:
            yield StorageClient(conn, "vol")
    finally:
        await stack.stop(grace=0.5)


async def test_a_full_volume_is_resource_exhausted_and_keeps_the_old_file(
    tmpfs: Path, volume_storage: StorageClient
) -> None:
    await volume_storage.write("a.bin", b"old")
    err = await status_of(volume_storage.write("a.bin", os.urandom(2 * TMPFS_BYTES)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "full" in (err.details() or "")
    assert await volume_storage.read("a.bin") == b"old"
    assert os.listdir(tmpfs / ".tmp") == []  # nothing half-written stays
    # the volume works again once the failed write is gone
    await volume_storage.write("b.bin", os.urandom(TMPFS_BYTES // 4))


async def test_a_read_only_volume_is_unavailable_and_reads_go_on(
    tmpfs: Path, volume_storage: StorageClient
) -> None:
    await volume_storage.write("a.txt", "before")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    for call in (volume_storage.write("a.txt", "after"), volume_storage.write("new/b.txt", "b"),
                 volume_storage.delete("a.txt"), volume_storage.move("a.txt", "c.txt")):
        err = await status_of(call)
        assert err.code() == grpc.StatusCode.UNAVAILABLE, err
        assert "read-only" in (err.details() or "")
    assert await volume_storage.read("a.txt") == b"before"
    assert [f.path for f in await volume_storage.list()] == ["a.txt"]
