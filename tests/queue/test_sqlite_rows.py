"""The SQLite store's rows: the index a restart reads (seq order, no sort), dedup records."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from meshq.queue import store as st
from meshq.queue.engine import QueueEngine
from meshq.queue.model import NewMessage, QueueOptions
from meshq.queue.sqlite_store import SCHEMA_VERSION, SqliteQueueStore

LOAD_QUERY = ("SELECT seq, enqueued_at FROM messages WHERE room = ? AND queue = ? "
              "AND ready_at <= ? ORDER BY seq")


async def _write(path: Path, ops: list[st.Op]) -> None:
    store = SqliteQueueStore(path)
    await store.load(0.0)
    await store.submit(ops)
    await store.close()


def _rows(room: str, first_seq: int, ready_at: list[float]) -> list[st.NewRow]:
    return [(f"{room}-{first_seq + i}", first_seq + i, "b", "{}", r)
            for i, r in enumerate(ready_at)]


async def test_a_restart_reads_every_queue_in_seq_order_with_no_sort(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    # Seqs 1-4 of a/q: seq 2 was delayed until 50 (a later ready_at than seq 3's 0): seq order
    # and the order of ready_at differ. Rooms and queues interleave in seq.
    await _write(path, [
        st.PutMessages("a", "q", 1.0, _rows("a", 1, [0.0, 50.0, 0.0, 0.0])),
        st.PutMessages("b", "q", 2.0, _rows("b", 5, [0.0, 0.0])),
        st.PutMessages("a", "r", 3.0, _rows("ar", 7, [0.0])),
        st.PutMessages("a", "q", 4.0, _rows("a", 8, [0.0])),
    ])
    snap = await SqliteQueueStore(path).load(100.0)
    runs = {(r.room, r.queue): [int(s) for s in r.pairs[::2]] for r in snap.ready}
    assert runs == {("a", "q"): [1, 2, 3, 4, 8], ("a", "r"): [7], ("b", "q"): [5, 6]}
    assert snap.count == 8 and snap.max_seq == 8

    conn = sqlite3.connect(path)
    plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + LOAD_QUERY,
                                                   ("a", "q", 100.0)))
    assert "COVERING INDEX messages_queue" in plan and "TEMP B-TREE" not in plan, plan
    conn.close()


async def test_a_file_with_the_older_index_is_rebuilt_once_and_loads_the_same(
        tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    await _write(path, [st.PutMessages("a", "q", 1.0, _rows("a", 1, [0.0, 0.0, 0.0]))])
    conn = sqlite3.connect(path)
    conn.executescript("DROP INDEX messages_queue; CREATE INDEX messages_ready ON messages "
                       "(room, queue, ready_at, enqueued_at);")
    conn.close()
    snap = await SqliteQueueStore(path).load(10.0)
    assert [int(s) for s in snap.ready[0].pairs[::2]] == [1, 2, 3]
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "messages_queue" in names and "messages_ready" not in names


async def test_dedup_records_of_a_large_send_survive_a_restart(tmp_path: Path) -> None:
    # 600 dedup ids in one send: three multi-row statements of dedup records
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    first = await e.send("a", "q", [NewMessage(body=str(i), dedup_id=f"d{i}")
                                    for i in range(600)], create=True)
    await e.close()
    e = QueueEngine(SqliteQueueStore(tmp_path / "q.db"))
    await e.start()
    again = await e.send("a", "q", [NewMessage(body='"x"', dedup_id=f"d{i}") for i in range(600)])
    assert all(r.duplicate for r in again)
    assert [r.message_id for r in again] == [r.message_id for r in first]
    await e.close()


async def test_the_later_dedup_record_of_a_key_is_the_one_a_restart_keeps(tmp_path: Path) -> None:
    # Given two records of one dedup id in one commit (the log keeps both)
    path = tmp_path / "q.db"
    await _write(path, [st.PutRoom("a", 1.0),
                        st.PutQueue("a", "q", 5, 300.0, False, 1.0),
                        st.PutDedup("a", "q", "d", "first", 1000.0),
                        st.PutDedup("a", "q", "d", "second", 900.0)])
    # When the store is loaded, then the later one is the record
    store = SqliteQueueStore(path)
    snap = await store.load(0.0)
    await store.close()
    assert snap.dedup == [st.StoredDedup("a", "q", "d", "second", 900.0)]


async def test_an_expired_dedup_id_sent_again_holds_its_new_message_after_a_restart(
        tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "q.db"
    e = QueueEngine(SqliteQueueStore(path), clock=lambda: now[0])
    await e.start()
    await e.create_room("a")
    await e.open_queue("a", "q", QueueOptions(dedup_window_seconds=10.0))
    first = await e.send("a", "q", [NewMessage(body="1", dedup_id="d")])
    now[0] += 11  # the id expired: the same id is a new message
    second = await e.send("a", "q", [NewMessage(body="2", dedup_id="d")])
    assert not second[0].duplicate and second[0].message_id != first[0].message_id
    await e.close()
    # The file keeps the newer record only: the send pruned the expired one
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT message_id FROM dedup_log").fetchall() == [
        (second[0].message_id,)]
    conn.close()
    e = QueueEngine(SqliteQueueStore(path), clock=lambda: now[0])
    await e.start()
    again = await e.send("a", "q", [NewMessage(body="3", dedup_id="d")])
    assert again[0].duplicate and again[0].message_id == second[0].message_id
    await e.close()


async def test_a_version_2_file_keeps_its_dedup_records(tmp_path: Path) -> None:
    # Given a file of schema version 2, whose dedup records sit in a table keyed by id
    path = tmp_path / "q.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (2);
        CREATE TABLE rooms (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
        INSERT INTO rooms VALUES ('a', 1.0);
        CREATE TABLE queues (room TEXT NOT NULL, name TEXT NOT NULL,
          max_deliveries INTEGER NOT NULL, dedup_window REAL NOT NULL, closed INTEGER NOT NULL,
          created_at REAL NOT NULL, flow TEXT NOT NULL DEFAULT '', PRIMARY KEY (room, name));
        INSERT INTO queues VALUES ('a', 'q', 5, 300.0, 0, 1.0, '');
        CREATE TABLE dedup (room TEXT NOT NULL, queue TEXT NOT NULL, dedup_id TEXT NOT NULL,
          message_id TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (room, queue, dedup_id));
        INSERT INTO dedup VALUES ('a', 'q', 'd', 'the-first-id', 4000000000.0);
    """)
    conn.close()
    # When this meshq opens it, then the id still names its first message
    e = QueueEngine(SqliteQueueStore(path))
    await e.start()
    again = await e.send("a", "q", [NewMessage(body="1", dedup_id="d")])
    await e.close()
    assert again[0].duplicate and again[0].message_id == "the-first-id"
    # and the file is the current version, its records in the log
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'dedup'").fetchall() == []
    assert conn.execute("SELECT dedup_id, message_id FROM dedup_log").fetchall() == [
        ("d", "the-first-id")]
    conn.close()
