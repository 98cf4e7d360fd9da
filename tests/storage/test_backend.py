"""FileStorage on a real temp folder: atomic writes, streaming, ranges, names, symlinks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshq.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from meshq.storage.backend import FileStorage

ROOM = "r1"


@pytest.fixture
async def store(tmp_path: Path) -> FileStorage:
    storage = FileStorage(tmp_path / "storage", max_file_bytes=4 * 1024 * 1024)
    await storage.start()
    return storage


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(store: FileStorage, path: str, **kw: int) -> bytes:
    return b"".join([c async for c in store.read(ROOM, path, **kw)])


class StreamBroke(Exception):
    pass


async def broken_stream(good: bytes) -> AsyncIterator[bytes]:
    yield good
    raise StreamBroke()


async def test_a_failed_stream_leaves_the_old_file_untouched(store: FileStorage) -> None:
    # Given a stored file
    await store.write(ROOM, "notes/a.txt", chunks_of(b"old contents"))
    # When a replacement stream breaks halfway
    with pytest.raises(StreamBroke):
        await store.write(ROOM, "notes/a.txt", broken_stream(b"new half" * 200_000))
    # Then the old bytes are still there and no temp file is left behind
    assert await read_all(store, "notes/a.txt") == b"old contents"
    assert list((store.root / ".tmp").iterdir()) == []


async def test_a_failed_first_write_leaves_nothing(store: FileStorage) -> None:
    with pytest.raises(StreamBroke):
        await store.write(ROOM, "new/b.txt", broken_stream(b"x" * 10))
    with pytest.raises(NotFound):
        await store.stat(ROOM, "new/b.txt")


async def test_a_refused_first_write_leaves_no_room_folder(store: FileStorage) -> None:
    """On disk, not even the folder of a room that had no file yet (the security fuzz test
    found one left behind); the first write that succeeds makes it, private."""
    with pytest.raises(StreamBroke):
        await store.write(ROOM, "new/b.txt", broken_stream(b"x" * 10))
    assert not store.room_dir(ROOM).exists()
    await store.write(ROOM, "new/b.txt", chunks_of(b"ok"))
    assert await read_all(store, "new/b.txt") == b"ok"
    assert oct(store.room_dir(ROOM).stat().st_mode & 0o777) == "0o700"


async def test_a_file_over_the_limit_is_refused_and_the_old_kept(store: FileStorage) -> None:
    await store.write(ROOM, "big.bin", chunks_of(b"small"))
    one_mib = b"z" * (1024 * 1024)
    with pytest.raises(ResourceExhausted, match="size limit of 4194304 bytes"):
        await store.write(ROOM, "big.bin", chunks_of(*[one_mib] * 5))
    assert await read_all(store, "big.bin") == b"small"


async def test_large_streamed_write_and_read_round_trip(store: FileStorage) -> None:
    # Given 3.5 MiB of non-repeating bytes sent in uneven chunks
    payload = os.urandom(3 * 1024 * 1024 + 512 * 1024)
    parts = [payload[i:i + 77_777] for i in range(0, len(payload), 77_777)]
    entry = await store.write(ROOM, "blob.bin", chunks_of(*parts))
    assert entry.size == len(payload) and not entry.is_dir
    # Then it reads back in 64 KiB chunks, byte for byte
    chunks = [c async for c in store.read(ROOM, "blob.bin")]
    assert b"".join(chunks) == payload
    assert max(len(c) for c in chunks) == 64 * 1024


async def test_offset_and_length_reads(store: FileStorage) -> None:
    data = bytes(range(256)) * 1000
    await store.write(ROOM, "r.bin", chunks_of(data))
    assert await read_all(store, "r.bin", offset=1000) == data[1000:]
    assert await read_all(store, "r.bin", offset=70_000, length=100_000) == data[70_000:170_000]
    assert await read_all(store, "r.bin", offset=len(data)) == b""
    with pytest.raises(InvalidArgument, match="past the end"):
        await read_all(store, "r.bin", offset=len(data) + 1)


async def test_no_overwrite_refuses_an_existing_file(store: FileStorage) -> None:
    await store.write(ROOM, "a.txt", chunks_of(b"1"))
    with pytest.raises(AlreadyExists):
        await store.write(ROOM, "a.txt", chunks_of(b"2"), overwrite=False)
    await store.write(ROOM, "a.txt", chunks_of(b"3"), overwrite=True)
    assert await read_all(store, "a.txt") == b"3"


async def test_writes_that_collide_with_folders_are_refused(store: FileStorage) -> None:
    await store.write(ROOM, "dir/file.txt", chunks_of(b"x"))
    with pytest.raises(FailedPrecondition, match="is a folder"):
        await store.write(ROOM, "dir", chunks_of(b"y"))
    with pytest.raises(FailedPrecondition, match="is a file, not a folder"):
        await store.write(ROOM, "dir/file.txt/under", chunks_of(b"y"))
    with pytest.raises(FailedPrecondition, match="is a folder"):
        await read_all(store, "dir")


async def test_list_stat_delete_move(store: FileStorage) -> None:
    # Given a small tree
    for path in ("a.txt", "docs/b.md", "docs/deep/c.md"):
        await store.write(ROOM, path, chunks_of(path.encode()))
    # Then listings are sorted, relative to the room, recursive on request
    assert [e.path for e in await store.list(ROOM)] == ["a.txt", "docs"]
    assert [e.path for e in await store.list(ROOM, "docs")] == ["docs/b.md", "docs/deep"]
    assert [e.path for e in await store.list(ROOM, "", recursive=True)] == [
        "a.txt", "docs", "docs/b.md", "docs/deep", "docs/deep/c.md"]
    assert [e.path for e in await store.list(ROOM, "a.txt")] == ["a.txt"]
    stat = await store.stat(ROOM, "docs/b.md")
    assert (stat.size, stat.is_dir) == (len(b"docs/b.md"), False)
    assert (await store.stat(ROOM, "docs")).is_dir
    # When a non-empty folder is deleted without recursive it is refused, with it it goes
    with pytest.raises(FailedPrecondition, match="not empty"):
        await store.delete(ROOM, "docs")
    await store.move(ROOM, "docs/deep/c.md", "archive/2024/c.md")
    await store.delete(ROOM, "docs/deep")  # now empty
    await store.delete(ROOM, "docs", recursive=True)
    assert [e.path for e in await store.list(ROOM, "", recursive=True)] == [
        "a.txt", "archive", "archive/2024", "archive/2024/c.md"]
    with pytest.raises(NotFound):
        await store.delete(ROOM, "docs")


async def test_move_overwrite_rules(store: FileStorage) -> None:
    await store.write(ROOM, "src.txt", chunks_of(b"S"))
    await store.write(ROOM, "dst.txt", chunks_of(b"D"))
    with pytest.raises(AlreadyExists):
        await store.move(ROOM, "src.txt", "dst.txt")
    moved = await store.move(ROOM, "src.txt", "dst.txt", overwrite=True)
    assert moved.path == "dst.txt" and await read_all(store, "dst.txt") == b"S"
    with pytest.raises(NotFound):
        await store.stat(ROOM, "src.txt")
    with pytest.raises(NotFound):
        await store.move(ROOM, "src.txt", "other.txt")
    await store.write(ROOM, "f/x.txt", chunks_of(b"x"))
    with pytest.raises(InvalidArgument, match="into itself"):
        await store.move(ROOM, "f", "f/sub")
    await store.write(ROOM, "g/y.txt", chunks_of(b"y"))
    with pytest.raises(AlreadyExists):
        await store.move(ROOM, "f", "g")
    await store.move(ROOM, "f", "h")
    assert [e.path for e in await store.list(ROOM, "h")] == ["h/x.txt"]


async def test_an_unknown_room_lists_empty_but_has_no_files(store: FileStorage) -> None:
    assert await store.list("never-written") == []
    with pytest.raises(NotFound):
        await read_all(store, "a.txt")
    with pytest.raises(InvalidArgument, match="room"):
        await store.list("../etc")


async def test_a_crash_leftover_temp_file_is_removed_at_start(tmp_path: Path) -> None:
    leftover = tmp_path / "storage" / ".tmp" / "dead.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")
    await FileStorage(tmp_path / "storage").start()
    assert not leftover.exists()


@pytest.fixture
def linked_room(store: FileStorage, tmp_path: Path) -> Path:
    """A room with links: "out" and "out.txt" lead out, "in" and "in.txt" stay inside."""
    room = store.root / ROOM
    (room / "inside").mkdir(parents=True)
    (room / "inside" / "kept.txt").write_bytes(b"inside")
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "passwd").write_bytes(b"root:x:0:0")
    os.symlink(secret_dir, room / "out")
    os.symlink(secret_dir / "passwd", room / "out.txt")
    os.symlink(room / "inside", room / "in")
    os.symlink(room / "inside" / "kept.txt", room / "in.txt")
    return secret_dir


async def test_links_out_of_the_room_are_refused(store: FileStorage, linked_room: Path) -> None:
    for path in ("out.txt", "out/passwd"):
        with pytest.raises(InvalidArgument, match="symbolic link"):
            await read_all(store, path)
        with pytest.raises(InvalidArgument, match="symbolic link"):
            await store.write(ROOM, path, chunks_of(b"pwned"))
        with pytest.raises(InvalidArgument, match="symbolic link"):
            await store.stat(ROOM, path)
        with pytest.raises(InvalidArgument, match="symbolic link"):
            await store.delete(ROOM, path)
    with pytest.raises(InvalidArgument, match="symbolic link"):
        await store.list(ROOM, "out")
    with pytest.raises(InvalidArgument, match="symbolic link"):
        await store.write(ROOM, "out/new/file.txt", chunks_of(b"pwned"))
    with pytest.raises(InvalidArgument, match="symbolic link"):
        await store.move(ROOM, "inside/kept.txt", "out/kept.txt")
    with pytest.raises(InvalidArgument, match="symbolic link"):
        await store.move(ROOM, "out/passwd", "stolen.txt")
    # Nothing outside changed, and the room's own listing leaves the links out
    assert sorted(p.name for p in linked_room.iterdir()) == ["passwd"]
    assert (linked_room / "passwd").read_bytes() == b"root:x:0:0"
    listed = [e.path for e in await store.list(ROOM, "", recursive=True)]
    assert "out" not in listed and "out.txt" not in listed and "out/passwd" not in listed


async def test_links_that_stay_inside_work(store: FileStorage, linked_room: Path) -> None:
    assert await read_all(store, "in.txt") == b"inside"
    assert await read_all(store, "in/kept.txt") == b"inside"
    await store.write(ROOM, "in/new.txt", chunks_of(b"via link"))
    assert await read_all(store, "inside/new.txt") == b"via link"
    assert [e.path for e in await store.list(ROOM, "in")] == ["in/kept.txt", "in/new.txt"]
    listed = {e.path: e.is_dir for e in await store.list(ROOM, "", recursive=True)}
    assert listed["in"] is True and listed["in.txt"] is False
    assert "in/kept.txt" not in listed  # links are listed, never descended (no loops)
    await store.delete(ROOM, "in.txt")  # removes the link, not its target
    assert await read_all(store, "inside/kept.txt") == b"inside"


async def test_readers_see_a_whole_version_while_writers_replace(store: FileStorage) -> None:
    # Given a file that writers keep replacing with whole versions of one repeated byte
    size = 512 * 1024
    await store.write(ROOM, "v.bin", chunks_of(b"a" * size))

    async def writer(byte: bytes) -> None:
        for _ in range(5):
            await store.write(ROOM, "v.bin", chunks_of(byte * (size // 2), byte * (size // 2)))

    async def reader() -> set[bytes]:
        seen: set[bytes] = set()
        for _ in range(10):
            data = await read_all(store, "v.bin")
            assert len(data) == size and data == data[:1] * size  # never a mix of versions
            seen.add(data[:1])
        return seen

    # When they race with readers
    results = await asyncio.gather(writer(b"b"), writer(b"c"), reader(), reader())
    # Then every read was one whole version, and no temp file is left
    assert set().union(*results[2:]) <= {b"a", b"b", b"c"}
    assert list((store.root / ".tmp").iterdir()) == []


def test_folders_made_for_a_refused_change_are_removed_again(tmp_path: Path) -> None:
    from meshq.storage.disk import parents_made

    room = tmp_path / "room"
    (room / "kept").mkdir(parents=True)
    # When a write or move made new parents and then failed
    with pytest.raises(FileExistsError), parents_made(room, room / "kept" / "a" / "b"):
        assert (room / "kept" / "a" / "b").is_dir()
        raise FileExistsError("the target appeared")
    # Then the folders it made are gone, and the ones that were there stay
    assert [p.name for p in room.iterdir()] == ["kept"] and not any((room / "kept").iterdir())
    # And when the change succeeds, they stay
    with parents_made(room, room / "kept" / "c"):
        pass
    assert (room / "kept" / "c").is_dir()
