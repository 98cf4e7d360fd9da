"""SQLite deletes are tombstones: a deleted (acked) message is gone at once for every read and
after any restart, crash included; its row is purged later, in seq order."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from meshq.queue import sqlite_tombstones as tomb
from meshq.queue import store as st
from meshq.queue.sqlite_store import SCHEMA, SCHEMA_VERSION, SqliteQueueStore

R, Q = "room", "jobs"


def _rows(seqs: range) -> list[st.NewRow]:
    return [(f"m{seq}", seq, f'{{"n": {seq}}}', "{}", 0.0) for seq in seqs]


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _file_with(path: Path, seqs: range, tombstoned: list[int]) -> sqlite3.Connection:
    """A store file holding messages ``seqs``, ``tombstoned`` of them deleted, not purged."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, 1.0, 0, 0.0)",
                     [(mid, R, Q, seq, body, headers) for mid, seq, body, headers, _ in
                      _rows(seqs)])
    conn.executemany("INSERT INTO tombstones VALUES (?)", [(s,) for s in tombstoned])
    conn.execute("COMMIT")
    return conn


async def _store_with(path: Path, seqs: range) -> SqliteQueueStore:
    """A store opened on ``path`` (loaded) holding messages ``seqs``."""
    store = SqliteQueueStore(path)
    await store.load(0.0)
    await store.submit([st.PutMessages(R, Q, 1.0, _rows(seqs))])
    return store


async def test_a_deleted_message_is_gone_for_reads_before_its_row_is_purged(
        tmp_path: Path) -> None:
    # Given a store with 10 messages, 3 of them deleted (a sparse few: nothing is purged yet)
    store = await _store_with(tmp_path / "q.db", range(1, 11))
    await store.submit([st.DeleteMessages([7, 2, 9])])
    try:
        assert _count(tmp_path / "q.db", "tombstones") == 3
        assert _count(tmp_path / "q.db", "messages") == 10

        # Then no read returns them: by seq, as a range or a list, nor by id
        assert sorted(b.seq for b in await store.read(range(1, 11))) == [1, 3, 4, 5, 6, 8, 10]
        assert sorted(b.seq for b in await store.read([2, 3, 9])) == [3]
        assert await store.find("m7") is None
        found = await store.find("m8")
        assert found is not None and found.seq == 8
    finally:
        await store.close()


async def test_a_restart_purges_every_tombstone_before_reading_the_index(
        tmp_path: Path) -> None:
    # Given a store closed with deleted messages not yet purged
    store = await _store_with(tmp_path / "q.db", range(1, 11))
    await store.submit([st.DeleteMessages([1, 5, 10])])
    await store.close()

    # When it is loaded again
    store = SqliteQueueStore(tmp_path / "q.db")
    snap = await store.load(0.0)
    await store.close()

    # Then the index holds only the live messages, and the rows and tombstones are gone
    [run] = snap.ready
    assert list(run.pairs[::2]) == [2, 3, 4, 6, 7, 8, 9]
    assert snap.count == 7 and snap.max_seq == 9
    assert _count(tmp_path / "q.db", "tombstones") == 0
    assert _count(tmp_path / "q.db", "messages") == 7


async def test_acks_near_send_order_delete_in_place(tmp_path: Path) -> None:
    # Given 10 messages
    store = await _store_with(tmp_path / "q.db", range(1, 11))

    # When a dense batch and a single ack are deleted
    await store.submit([st.DeleteMessages([5, 4, 6]), st.DeleteMessages([9])])
    await store.close()

    # Then their rows are gone at once, with no tombstone
    assert _count(tmp_path / "q.db", "tombstones") == 0
    assert _count(tmp_path / "q.db", "messages") == 6


async def test_scattered_acks_that_fill_a_dense_chunk_are_purged_after_their_commit(
        tmp_path: Path) -> None:
    # Given a chunk's worth of messages and a few more, acked in three scattered passes
    # (every third seq each: each batch spans 3x its size, so each is tombstones)
    n = tomb.PURGE_CHUNK + 12
    store = await _store_with(tmp_path / "q.db", range(1, n + 1))
    for first in (1, 2, 3):
        await store.submit([st.DeleteMessages(list(range(first, n + 1, 3)))])
    await store.submit([st.PutRoom(R, 1.0)])  # committed after the purge that followed
    try:
        # Then the lowest chunk, now dense, is purged; the rest waits (and stays invisible)
        assert _count(tmp_path / "q.db", "tombstones") == 12
        assert _count(tmp_path / "q.db", "messages") == 12
        assert await store.read(range(1, n + 1)) == []
    finally:
        await store.close()


def test_a_sparse_chunk_waits_and_a_backlog_over_the_limit_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given every third of 4 chunks' worth of messages deleted (sparse: 3 seqs a tombstone)
    seqs = range(1, 3 * 4 * tomb.PURGE_CHUNK + 1)
    dead = list(seqs[::3])
    conn = _file_with(tmp_path / "q.db", seqs, dead)
    tombstones = tomb.Tombstones(conn)
    assert tombstones.count == len(dead)

    # When a group commit ends below the limit: nothing is purged
    tombstones.after_commit()
    assert tombstones.count == len(dead)

    # When the backlog is over the limit: the lowest chunk is purged, rows and tombstones
    monkeypatch.setattr(tomb, "TOMBSTONE_LIMIT", len(dead))
    tombstones.after_commit()
    assert tombstones.count == len(dead) - tomb.PURGE_CHUNK
    lowest_left = dead[tomb.PURGE_CHUNK]
    assert conn.execute("SELECT min(seq) FROM tombstones").fetchone()[0] == lowest_left
    assert conn.execute("SELECT count(*) FROM messages WHERE seq < ?",
                        (lowest_left,)).fetchone()[0] == lowest_left - 1 - tomb.PURGE_CHUNK

    # And an idle purge takes the next chunk whatever its density; purge_all the rest
    tombstones.purge_chunk()
    assert tombstones.count == len(dead) - 2 * tomb.PURGE_CHUNK
    tombstones.purge_all()
    assert tombstones.count == 0
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(seqs) - len(dead)
    conn.close()


def test_a_failed_purge_loses_nothing_and_waits_for_the_next_commit(tmp_path: Path) -> None:
    # Given tombstones, and a second connection holding the write lock
    conn = _file_with(tmp_path / "q.db", range(1, 11), [3, 4])
    conn.execute("PRAGMA busy_timeout=0")
    tombstones = tomb.Tombstones(conn)
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    # When a purge fails (database is locked)
    tombstones.purge_chunk()

    # Then the tombstones stay, and no idle purge is retried until a commit adds some
    assert tombstones.idle_wait is None
    other.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 2
    tombstones.added(1)
    assert tombstones.idle_wait == tomb.PURGE_IDLE
    other.close()
    conn.close()


def test_a_file_of_schema_version_1_is_upgraded(tmp_path: Path) -> None:
    # Given a file written before tombstones (version 1)
    path = tmp_path / "q.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.close()

    # When this meshq opens it, then it reads it and marks it the current version
    async def load() -> None:
        store = SqliteQueueStore(path)
        await store.load(0.0)
        await store.close()

    asyncio.run(load())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)]
        assert conn.execute("SELECT count(*) FROM tombstones").fetchone() == (0,)
    conn.close()


_CHILD = textwrap.dedent("""
    import asyncio, sys
    from meshq.queue import sqlite_tombstones, store as st
    from meshq.queue.sqlite_store import SqliteQueueStore

    sqlite_tombstones.PURGE_IDLE = 3600.0  # the kill comes before any purge
    rows = [(f"m{s}", s, "{}", "{}", 0.0) for s in range(1, 3001)]

    async def main():
        store = SqliteQueueStore(sys.argv[1])
        await store.load(0.0)
        await store.submit([st.PutMessages("room", "jobs", 1.0, rows)])
        await store.submit([st.DeleteMessages(list(range(3, 3001, 3)))])
        print("acked", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


async def test_acks_committed_before_a_sigkill_stay_acked_after_the_restart(
        tmp_path: Path) -> None:
    # Given a process whose store committed 1,000 sparse deletes, still only tombstones
    path = tmp_path / "q.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(path), stdout=asyncio.subprocess.PIPE,
        env={**os.environ})
    assert child.stdout is not None
    async with asyncio.timeout(30):
        assert (await child.stdout.readline()).strip() == b"acked"

    # When it is SIGKILLed (no close)
    child.send_signal(signal.SIGKILL)
    await child.wait()
    assert _count(path, "tombstones") == 1000

    # Then a restart sees none of the deleted messages, and every other one
    store = SqliteQueueStore(path)
    snap = await store.load(0.0)
    try:
        [run] = snap.ready
        assert [int(s) for s in run.pairs[::2]] == [s for s in range(1, 3001) if s % 3]
        assert await store.read([3, 6, 3000]) == []
        assert await store.find("m3000") is None
    finally:
        await store.close()
