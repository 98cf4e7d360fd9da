"""Room storage on PostgreSQL: the disk backend's behaviour tests, run on ``PgFileStorage``,
plus what only a shared database shows (a file written by one replica, read by another)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from storage.test_backend import (  # the same stories as on disk
    ROOM,
    StreamBroke,
    broken_stream,
    chunks_of,
    test_a_failed_first_write_leaves_nothing,
    test_a_file_over_the_limit_is_refused_and_the_old_kept,
    test_an_unknown_room_lists_empty_but_has_no_files,
    test_large_streamed_write_and_read_round_trip,
    test_list_stat_delete_move,
    test_move_overwrite_rules,
    test_no_overwrite_refuses_an_existing_file,
    test_offset_and_length_reads,
    test_writes_that_collide_with_folders_are_refused,
)

from meshq.postgres.pool import Database, PoolSettings
from meshq.postgres.storage import PgFileStorage

__all__ = [
    "test_a_failed_first_write_leaves_nothing",
    "test_a_file_over_the_limit_is_refused_and_the_old_kept",
    "test_an_unknown_room_lists_empty_but_has_no_files",
    "test_large_streamed_write_and_read_round_trip",
    "test_list_stat_delete_move",
    "test_move_overwrite_rules",
    "test_no_overwrite_refuses_an_existing_file",
    "test_offset_and_length_reads",
    "test_writes_that_collide_with_folders_are_refused",
]


async def open_db(url: str) -> Database:
    db = Database(PoolSettings(url=url, min_size=1, max_size=4))
    await db.start(watch=False)
    return db


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PgFileStorage]:
    db = await open_db(pg_url)
    storage = PgFileStorage(db, max_file_bytes=4 * 1024 * 1024)
    await storage.start()
    yield storage
    await db.close()


async def read_all(store: PgFileStorage, path: str) -> bytes:
    return b"".join([c async for c in store.read(ROOM, path)])


async def blobs(store: PgFileStorage) -> dict[str, int]:
    async with store._db.conn() as conn:  # the test looks at the tables themselves
        rows = await conn.fetch("SELECT state, count(*) AS n FROM st_blobs GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


async def test_a_failed_stream_keeps_the_old_file_and_leaves_no_blob(
        store: PgFileStorage) -> None:
    # Given a stored file
    await store.write(ROOM, "notes/a.txt", chunks_of(b"old contents"))
    # When a replacement stream breaks after more than one chunk was stored
    with pytest.raises(StreamBroke):
        await store.write(ROOM, "notes/a.txt", broken_stream(b"new half" * 300_000))
    # Then the old bytes are there and the broken write's blob is gone
    assert await read_all(store, "notes/a.txt") == b"old contents"
    assert await blobs(store) == {"live": 1}


async def test_readers_see_whole_versions_while_writers_replace(store: PgFileStorage) -> None:
    size = 1536 * 1024  # two chunks: a mix of versions would show
    await store.write(ROOM, "v.bin", chunks_of(b"a" * size))

    async def writer(byte: bytes) -> None:
        for _ in range(3):
            await store.write(ROOM, "v.bin", chunks_of(byte * (size // 2), byte * (size // 2)))

    async def reader() -> set[bytes]:
        seen: set[bytes] = set()
        for _ in range(6):
            data = await read_all(store, "v.bin")
            assert len(data) == size and data == data[:1] * size
            seen.add(data[:1])
        return seen

    results = await asyncio.gather(writer(b"b"), writer(b"c"), reader(), reader())
    assert set().union(*results[2:]) <= {b"a", b"b", b"c"}
    assert (await blobs(store))["live"] == 1


async def test_a_file_written_through_one_replica_is_read_through_another(pg_url: str) -> None:
    # Given two replicas' storages over the same database
    one, two = await open_db(pg_url), await open_db(pg_url)
    try:
        first, second = PgFileStorage(one), PgFileStorage(two)
        # When one writes a file, Then the other lists, reads, moves and deletes it
        await first.write(ROOM, "shared/report.txt", chunks_of(b"hello ", b"replica"))
        assert [e.path for e in await second.list(ROOM, "shared")] == ["shared/report.txt"]
        assert b"".join([c async for c in second.read(ROOM, "shared/report.txt")]) == \
            b"hello replica"
        await second.move(ROOM, "shared/report.txt", "final.txt")
        assert (await first.stat(ROOM, "final.txt")).size == len(b"hello replica")
    finally:
        await one.close()
        await two.close()
