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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
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

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA = """
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
CREATE INDEX IF NOT EXISTS messages_ready ON messages (room, queue, ready_at, enqueued_at);
DROP INDEX IF EXISTS messages_by_queue;
CREATE INDEX IF NOT EXISTS messages_delayed ON messages (ready_at) WHERE ready_at > 0;
CREATE TABLE IF NOT EXISTS dedup (
  room TEXT NOT NULL, queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,
  expires_at REAL NOT NULL, PRIMARY KEY (room, queue, dedup_id));
"""

_ROOM_PUT = "INSERT OR REPLACE INTO rooms VALUES (?, ?)"
_ROOM_DEL = "DELETE FROM rooms WHERE name = ?"
_QUEUE_PUT = ("INSERT OR REPLACE INTO queues (room, name, max_deliveries, dedup_window, closed, "
              "created_at, flow) VALUES (?, ?, ?, ?, ?, ?, ?)")
_QUEUE_DEL = (
    "DELETE FROM messages WHERE room = ?1 AND queue = ?2",
    "DELETE FROM dedup WHERE room = ?1 AND queue = ?2",
    "DELETE FROM queues WHERE room = ?1 AND name = ?2",
)
_QUEUE_CLEAR = "DELETE FROM messages WHERE room = ? AND queue = ?"
_MSG_UPDATE = "UPDATE messages SET attempts = ?, ready_at = ?, headers = ? WHERE seq = ?"
_MSG_MOVE = ("UPDATE messages SET room = ?, queue = ?, attempts = ?, ready_at = ?, headers = ? "
             "WHERE seq = ?")
_MSG_RESET = ("UPDATE messages SET room = ?, queue = ?, attempts = 0, ready_at = 0 "
              "WHERE seq = ?")
_DEDUP_PUT = "INSERT OR REPLACE INTO dedup VALUES (?, ?, ?, ?, ?)"
_DEDUP_PRUNE = "DELETE FROM dedup WHERE room = ? AND queue = ? AND expires_at <= ?"
_COLUMNS = "id, room, queue, seq, body, headers, enqueued_at, attempts, ready_at"
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

    async def read(self, seqs: Sequence[int]) -> list[s.StoredMessage]:
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
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
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
        except Exception as err:  # reported to whoever waits next
            logger.exception("cannot open queue store %s", self.path)
            open_error: Exception | None = err
        else:
            open_error = None
        while True:
            item = inbox.get()
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
            _apply(conn, [op for ops, _ in batches for op in ops])
            self.commits += 1
            self._resolve(batches, None)
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
        conn = self._conn
        assert conn is not None
        snap = s.Snapshot(
            rooms=[(r[0], r[1]) for r in conn.execute("SELECT name, created_at FROM rooms")],
            queues=[s.StoredQueue(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6])
                    for r in conn.execute(
                        "SELECT room, name, max_deliveries, dedup_window, closed, created_at, "
                        "flow FROM queues")],
            delayed=[s.StoredMessage(*r) for r in conn.execute(
                f"SELECT {_INDEX_COLUMNS} FROM messages WHERE ready_at > ? ORDER BY seq",
                (now,))],
            dedup=[s.StoredDedup(*r) for r in conn.execute("SELECT * FROM dedup")],
            max_seq=conn.execute("SELECT coalesce(max(seq), 0) FROM messages").fetchone()[0],
        )
        targets = conn.execute("SELECT DISTINCT room, queue FROM messages").fetchall()
        for room, name in targets:
            # From the covering index messages_ready: no table page (no body) is read.
            rows = conn.execute("SELECT seq, enqueued_at FROM messages WHERE room = ? AND "
                                "queue = ? AND ready_at <= ? ORDER BY seq", (room, name, now))
            run = s.ReadyRun(room=room, queue=name, pairs=array("d", chain.from_iterable(rows)))
            if len(run):
                snap.ready.append(run)
        snap.count = len(snap.delayed) + sum(len(r) for r in snap.ready)
        return snap


def _read_seqs(conn: sqlite3.Connection, seqs: Sequence[int]) -> list[s.StoredMessage]:
    out: list[s.StoredMessage] = []
    for start in range(0, len(seqs), READ_CHUNK):
        chunk = list(seqs[start:start + READ_CHUNK])
        marks = ",".join(["?"] * len(chunk))
        out.extend(s.StoredMessage(*r) for r in conn.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE seq IN ({marks})", chunk))
    return out


def _find(conn: sqlite3.Connection, message_id: str) -> s.StoredMessage | None:
    """By id: ids of this meshq embed their seq (``store.message_seq``); older ones scan."""
    seq = s.message_seq(message_id)
    if seq is not None:
        row = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM messages WHERE seq = ? AND id = ?",
                           (seq, message_id)).fetchone()
    else:
        row = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM messages WHERE id = ?",
                           (message_id,)).fetchone()
    return s.StoredMessage(*row) if row is not None else None


_Statement = tuple[str, list[Any], bool]  # (sql, parameters, executemany?)


def _apply(conn: sqlite3.Connection, ops: list[s.Op]) -> None:
    """Run ``ops`` in one transaction with as few SQLite statements as possible.

    Each statement releases the GIL while SQLite works and must win it back from the event
    loop after: ``executemany`` over 100 rows is 100 such hand-overs, each up to the switch
    interval while the loop is busy. So message inserts and deletes go as multi-row
    statements, and a group that is one statement (one send, or one frame of acks: the
    common case at low rates) runs alone in autocommit mode, which is the same durable
    transaction without the two hand-overs of BEGIN and COMMIT.
    """
    plan = _plan(ops)
    if len(plan) == 1 and not plan[0][2]:
        conn.execute(plan[0][0], plan[0][1])
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, params, many in plan:
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _plan(ops: list[s.Op]) -> list[_Statement]:
    """The statements for ``ops``, in order, except that the message inserts and deletes
    between two other ops are grouped (they commute: a delete always names a row committed
    by an earlier transaction, an insert a new one). Other runs of one kind share an
    ``executemany``."""
    plan: list[_Statement] = []
    i, n = 0, len(ops)
    while i < n:
        op = ops[i]
        if type(op) is s.PutMessages or type(op) is s.DeleteMessages:
            puts: list[Any] = []
            dels: list[int] = []
            while i < n and type(op := ops[i]) in (s.PutMessages, s.DeleteMessages):
                if type(op) is s.PutMessages:
                    room, queue, now = op.room, op.queue, op.enqueued_at
                    for mid, seq, body, headers_json, ready_at in op.rows:
                        puts += (mid, room, queue, seq, body, headers_json, now, 0, ready_at)
                else:
                    dels.extend(op.seqs)  # type: ignore[union-attr]
                i += 1
            _many_rows(plan, _insert_sql, puts, 9)
            dels.sort()  # acks out of send order (priorities, keys) touch fewer pages sorted
            _many_rows(plan, _delete_sql, dels, 1)
            continue
        kind = type(op)
        j = i + 1
        while j < n and type(ops[j]) is kind:
            j += 1
        _plan_run(plan, ops[i:j])
        i = j
    return plan


def _plan_run(plan: list[_Statement], run: list[s.Op]) -> None:
    """Statements for a run of ops of one kind (not message puts or deletes)."""
    op = run[0]
    if isinstance(op, s.UpdateMessages):
        plan.append((_MSG_UPDATE, [c for o in run for c in o.changes], True))  # type: ignore[union-attr]
    elif isinstance(op, s.MoveMessages):
        params = [(o.room, o.queue, *c) for o in run for c in o.changes]  # type: ignore[union-attr]
        plan.append((_MSG_MOVE, params, True))
    elif isinstance(op, s.ResetMessages):
        params = [(o.room, o.queue, seq) for o in run for seq in o.seqs]  # type: ignore[union-attr]
        plan.append((_MSG_RESET, params, True))
    elif isinstance(op, s.DeleteQueue):
        plan.extend((sql, list(run), True) for sql in _QUEUE_DEL)
    else:
        plan.append((_SINGLE[type(op)], list(run), True))


_SINGLE: dict[type, str] = {
    s.PutRoom: _ROOM_PUT, s.DeleteRoom: _ROOM_DEL, s.PutQueue: _QUEUE_PUT,
    s.ClearQueue: _QUEUE_CLEAR, s.PutDedup: _DEDUP_PUT, s.PruneDedup: _DEDUP_PRUNE,
}


ROWS_PER_STATEMENT = 256  # x 9 parameters stays far below SQLITE_MAX_VARIABLE_NUMBER
STATEMENT_CACHE = 2 * ROWS_PER_STATEMENT + 64  # every multi-row size stays prepared


@functools.cache
def _insert_sql(rows: int) -> str:
    return "INSERT INTO messages VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?)"] * rows)


@functools.cache
def _delete_sql(rows: int) -> str:
    return "DELETE FROM messages WHERE seq IN (" + ",".join(["?"] * rows) + ")"


def _many_rows(plan: list[_Statement], sql: Callable[[int], str], flat: list[Any],
               width: int) -> None:
    """Add ``sql(k)`` over ``flat`` (``width`` parameters a row), 256 rows a statement."""
    step = ROWS_PER_STATEMENT * width
    for start in range(0, len(flat), step):
        chunk = flat[start:start + step]
        plan.append((sql(len(chunk) // width), chunk, False))


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
