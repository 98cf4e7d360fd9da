"""The SQLite ``QueueStore``: WAL, ``synchronous=FULL``, one writer thread, group commit.

``submit`` only appends; once per event-loop iteration the batches submitted in it go to the
writer thread in one hand-over. The writer takes every batch waiting, applies them all in ONE
transaction (message inserts and deletes as multi-row statements, other runs of one kind
through one ``executemany``), commits (an fsync), then resolves all their futures with one
``call_soon_threadsafe``. Under load many Sends share each fsync; idle, a batch commits at
once: nothing waits for a batch to fill. If a group fails, its batches are retried one
transaction each so that one bad batch cannot fail the others.

Reads (bodies at delivery, a message by id) run on a second connection in a reader thread:
in WAL mode they see every committed transaction and never wait for the writer's fsync.

Deleted messages (acks) far from seq order are tombstones first; the writer thread deletes
their rows later in seq order, many a transaction, between groups or when idle
(``sqlite_tombstones``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from array import array
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from meshq.core.errors import Unavailable
from meshq.queue import store as s
from meshq.queue.sqlite_plan import STATEMENT_CACHE
from meshq.queue.sqlite_plan import apply as _apply
from meshq.queue.sqlite_tombstones import LIVE, Tombstones, tombstoned
from meshq.queue.sqlite_tombstones import SCHEMA as TOMBSTONES_SCHEMA

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 2: tombstones (a meshq reading 1 would bring acked messages back);
# 3: dedup records as an append-only log (a meshq reading 2 would not see them)
UPGRADABLE = (1, 2)  # older versions this one upgrades in place (``_upgrade``)
SCHEMA = TOMBSTONES_SCHEMA + """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS queues (
  room TEXT NOT NULL, name TEXT NOT NULL, max_deliveries INTEGER NOT NULL,
  dedup_window REAL NOT NULL, closed INTEGER NOT NULL, created_at REAL NOT NULL,
  flow TEXT NOT NULL DEFAULT '', PRIMARY KEY (room, name));
CREATE TABLE IF NOT EXISTS messages (
  id TEXT NOT NULL, room TEXT NOT NULL, queue TEXT NOT NULL, seq INTEGER PRIMARY KEY,
  body TEXT NOT NULL, headers TEXT NOT NULL, enqueued_at REAL NOT NULL,
  attempts INTEGER NOT NULL, ready_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (room, queue, seq, enqueued_at, ready_at);
DROP INDEX IF EXISTS messages_ready;
DROP INDEX IF EXISTS messages_by_queue;
CREATE INDEX IF NOT EXISTS messages_delayed ON messages (ready_at) WHERE ready_at > 0;
CREATE TABLE IF NOT EXISTS dedup_log (
  seq INTEGER PRIMARY KEY, room TEXT NOT NULL, queue TEXT NOT NULL, dedup_id TEXT NOT NULL,
  message_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dedup_log_expiry ON dedup_log (room, queue, expires_at);
"""
"""Dedup records are a log, not a table keyed by dedup id: the engine looks dedup ids up in
memory, so the file only has to bring them back at a restart (the latest record of a key
wins) and drop them when they expire. Keyed by their (random) ids, each new record landed on
a random page of a B-tree that grows with every id remembered, and a burst of 10,000
scheduled fires over a day's 200,000 records cost ~3x the writer's time of the same burst
over an empty table (docs/benchmarks.md); appended, a record costs the same at any size, and
the expiry index (expiry times mostly grow) makes a prune a range delete instead of a scan."""

_BODY_COLUMNS = "seq, id, body, headers, enqueued_at, attempts"
_INDEX_COLUMNS = "id, room, queue, seq, '', headers, enqueued_at, attempts, ready_at"
READ_CHUNK = 500  # seqs per SELECT ... IN (...)

_Batch = tuple[list[s.Op], asyncio.Future[None]]
_STOP = None


class SqliteQueueStore:
    """Queue storage in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._inbox: queue.SimpleQueue[list[_Batch] | Callable[[], None] | None] = (
            queue.SimpleQueue())
        self._pending: list[_Batch] = []  # submitted in this loop iteration, not yet handed over
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: sqlite3.Connection | None = None
        self._tombstones: Tombstones | None = None  # the writer thread's, once open
        self._dead = False  # the writer thread ended without being asked to
        self.commits = 0  # transactions committed (group commits), for benchmarks
        self._reader: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader_conn: sqlite3.Connection | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def load(self, now: float) -> s.Snapshot:
        self._loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="meshq-queue-writer",
                                            daemon=True)
            self._thread.start()
        future: asyncio.Future[s.Snapshot] = self._loop.create_future()
        self._inbox.put(lambda: self._call(future, lambda: self._read_index(now)))
        snapshot = await future
        self._reader = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="meshq-queue-reader")
        return snapshot

    async def close(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        self._hand_over()
        self._inbox.put(_STOP)
        await asyncio.to_thread(thread.join)
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.submit(self._close_reader)
            await asyncio.to_thread(reader.shutdown)

    async def read(self, seqs: Sequence[int]) -> list[s.StoredBody]:
        return await self._on_reader(lambda conn: _read_seqs(conn, seqs))

    async def find(self, message_id: str) -> s.StoredMessage | None:
        return await self._on_reader(lambda conn: _find(conn, message_id))

    async def _on_reader(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        reader = self._reader
        if reader is None or self._loop is None:
            raise Unavailable("the queue store is closed")
        return await asyncio.wrap_future(reader.submit(self._with_reader, fn))

    def _with_reader(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` on the reader thread's own connection (opened on first use)."""
        if self._reader_conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._reader_conn = conn
        return fn(self._reader_conn)

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    def submit(self, ops: list[s.Op]) -> asyncio.Future[None]:
        loop = self._loop
        if loop is None or self._thread is None:
            raise Unavailable("the queue store is closed")
        if self._dead:
            raise Unavailable("the queue store's writer thread died; restart the server")
        future: asyncio.Future[None] = loop.create_future()
        pending = self._pending
        if not pending:
            loop.call_soon(self._hand_over)
        pending.append((ops, future))
        return future

    def _hand_over(self) -> None:
        """Pass every batch submitted during this loop iteration to the writer at once.

        One queue put (one wake-up of the writer, one GIL hand-over) per loop iteration
        instead of one per call; it runs right after the callbacks already ready, so an idle
        writer still starts at once.
        """
        if self._pending:
            batches, self._pending = self._pending, []
            self._inbox.put(batches)
            if self._dead:  # the writer may have drained the inbox before this put
                self._fail_inbox(_settle)

    # -- writer thread ----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               cached_statements=STATEMENT_CACHE)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_ready'").fetchone():
            logger.info("queue store %s: rebuilding its message index once, in seq order",
                        self.path)
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] in UPGRADABLE:
            _upgrade(conn)
        elif row[0] != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: schema version {row[0]}, this meshq reads "
                               f"{SCHEMA_VERSION}")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(queues)")}
        if "flow" not in columns:  # a file from before flow control: an additive column
            conn.execute("ALTER TABLE queues ADD COLUMN flow TEXT NOT NULL DEFAULT ''")
        return conn

    def _run(self) -> None:
        stopped = False
        try:
            stopped = self._serve()
        except BaseException:
            logger.exception("the queue store writer thread failed")
        finally:
            if not stopped:
                self._dead = True
                self._fail_inbox(self._settle_threadsafe)
            if self._conn is not None:
                self._conn.close()

    def _serve(self) -> bool:
        """The writer loop; True once asked to stop."""
        conn = None
        inbox = self._inbox
        try:
            conn = self._conn = self._open()
            self._tombstones = Tombstones(conn)
        except Exception as err:  # reported to whoever waits next
            logger.exception("cannot open queue store %s", self.path)
            open_error: Exception | None = err
        else:
            open_error = None
        while True:
            item = self._next()
            batches: list[_Batch] = []
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                elif callable(item):
                    self._flush(conn, batches, open_error)
                    batches = []
                    item()
                else:
                    batches.extend(item)
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
            self._flush(conn, batches, open_error)
            if stop:
                return True
            if self._tombstones is not None:
                self._tombstones.after_commit()

    def _next(self) -> list[_Batch] | Callable[[], None] | None:
        """The next inbox item; while none comes and tombstones wait, purge them."""
        tombstones = self._tombstones
        while True:
            wait = tombstones.idle_wait if tombstones is not None else None
            try:
                return self._inbox.get(timeout=wait)
            except queue.Empty:
                assert tombstones is not None
                tombstones.purge_chunk()

    def _fail_inbox(self, settle: Callable[[list[asyncio.Future[None]], Exception], None]
                    ) -> None:
        """Fail every batch still waiting in the inbox (the writer is gone)."""
        error = Unavailable("the queue store's writer thread died; restart the server")
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, list):
                settle([f for _, f in item], error)

    def _settle_threadsafe(self, futures: list[asyncio.Future[None]], error: Exception) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_settle, futures, error)

    def _flush(self, conn: sqlite3.Connection | None, batches: list[_Batch],
               open_error: Exception | None) -> None:
        if not batches:
            return
        if conn is None:
            self._resolve(batches, open_error or RuntimeError("store not open"))
            return
        try:
            ops = [op for ops, _ in batches for op in ops]
            _apply(conn, ops)
            self.commits += 1
            self._resolve(batches, None)
            if self._tombstones is not None:
                self._tombstones.added(tombstoned(ops))
        except Exception:  # sqlite3.Error, or a value SQLite cannot bind (OverflowError...)
            if len(batches) == 1:
                logger.exception("queue store commit failed")
                self._resolve(batches, Unavailable("the queue store failed to commit"))
                return
            for batch in batches:  # isolate the bad batch
                self._flush(conn, [batch], None)

    def _resolve(self, batches: list[_Batch], error: Exception | None) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle, [f for _, f in batches], error)

    def _call(self, future: asyncio.Future[Any], fn: Callable[[], Any]) -> None:
        assert self._loop is not None
        try:
            if self._conn is None:
                raise Unavailable(f"cannot open the queue store {self.path}")
            result, error = fn(), None
        except Exception as err:
            result, error = None, err
        self._loop.call_soon_threadsafe(_settle_one, future, result, error)

    def _read_index(self, now: float) -> s.Snapshot:
        conn, tombstones = self._conn, self._tombstones
        assert conn is not None and tombstones is not None
        tombstones.purge_all()  # so nothing below reads a deleted row
        snap = s.Snapshot(
            rooms=[(r[0], r[1]) for r in conn.execute("SELECT name, created_at FROM rooms")],
            queues=[s.StoredQueue(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6])
                    for r in conn.execute(
                        "SELECT room, name, max_deliveries, dedup_window, closed, created_at, "
                        "flow FROM queues")],
            delayed=[s.StoredMessage(*r) for r in conn.execute(
                f"SELECT {_INDEX_COLUMNS} FROM messages WHERE ready_at > ? ORDER BY seq",
                (now,))],
            dedup=_latest_dedup(conn),
            max_seq=conn.execute("SELECT coalesce(max(seq), 0) FROM messages").fetchone()[0],
        )
        for room, name in _queues_with_messages(conn):
            # From the covering index messages_queue, in its order: no table page (no body)
            # is read and nothing is sorted.
            rows = conn.execute("SELECT seq, enqueued_at FROM messages WHERE room = ? AND "
                                "queue = ? AND ready_at <= ? ORDER BY seq", (room, name, now))
            run = s.ReadyRun(room=room, queue=name, pairs=array("d", chain.from_iterable(rows)))
            if len(run):
                snap.ready.append(run)
        snap.count = len(snap.delayed) + sum(len(r) for r in snap.ready)
        return snap


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring a file of an ``UPGRADABLE`` version to ``SCHEMA_VERSION`` in one transaction
    (``SCHEMA`` has created what is new): version 2's keyed dedup table becomes the log."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'dedup'").fetchone():
            conn.execute("INSERT INTO dedup_log (room, queue, dedup_id, message_id, expires_at) "
                         "SELECT room, queue, dedup_id, message_id, expires_at FROM dedup")
            conn.execute("DROP TABLE dedup")
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _latest_dedup(conn: sqlite3.Connection) -> list[s.StoredDedup]:
    """The last record of each (room, queue, dedup id) in the log: a key is written again
    only once its earlier record expired, and the later one holds."""
    latest: dict[tuple[str, str, str], s.StoredDedup] = {}
    new, cls = tuple.__new__, s.StoredDedup
    for row in conn.execute("SELECT room, queue, dedup_id, message_id, expires_at "
                            "FROM dedup_log ORDER BY seq"):
        latest[row[:3]] = new(cls, row)
    return list(latest.values())


def _queues_with_messages(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every (room, queue) holding a row, queue rows or not (orphans get repaired): one
    index seek per queue instead of a scan of every message."""
    found: list[tuple[str, str]] = []
    row = conn.execute("SELECT room, queue FROM messages ORDER BY room, queue LIMIT 1").fetchone()
    while row is not None:
        found.append((row[0], row[1]))
        # Two seeks, not one `(room, queue) > (?, ?)`: SQLite scans the rest of that one.
        row = (conn.execute("SELECT room, queue FROM messages WHERE room = ? AND queue > ? "
                            "ORDER BY queue LIMIT 1", row).fetchone()
               or conn.execute("SELECT room, queue FROM messages WHERE room > ? "
                               "ORDER BY room, queue LIMIT 1", row[:1]).fetchone())
    return found


def _read_seqs(conn: sqlite3.Connection, seqs: Sequence[int]) -> list[s.StoredBody]:
    """The rows of ``seqs``: a range scan when they are consecutive (a cold queue drained in
    order), else ``IN`` lists; records built without a Python ``__new__`` per row."""
    out: list[s.StoredBody] = []
    new, cls = tuple.__new__, s.StoredBody
    for start in range(0, len(seqs), READ_CHUNK):
        chunk = list(seqs[start:start + READ_CHUNK])
        lo, hi = min(chunk), max(chunk)
        if hi - lo + 1 == len(chunk):
            rows = conn.execute(f"SELECT {_BODY_COLUMNS} FROM messages WHERE seq BETWEEN ? AND ? "
                                f"AND {LIVE}", (lo, hi))
        else:
            marks = ",".join(["?"] * len(chunk))
            rows = conn.execute(f"SELECT {_BODY_COLUMNS} FROM messages WHERE seq IN ({marks}) "
                                f"AND {LIVE}", chunk)
        out.extend([new(cls, r) for r in rows])
    return out


def _find(conn: sqlite3.Connection, message_id: str) -> s.StoredMessage | None:
    """By id: ids of this meshq embed their seq (``store.message_seq``); older ones scan."""
    seq = s.message_seq(message_id)
    if seq is not None:
        row = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM messages WHERE seq = ? AND id = ? "
                           f"AND {LIVE}", (seq, message_id)).fetchone()
    else:
        row = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM messages WHERE id = ? AND {LIVE}",
                           (message_id,)).fetchone()
    return s.StoredMessage(*row) if row is not None else None


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


def _settle_one(future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
    if not future.done():
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
