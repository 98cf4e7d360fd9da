"""The SQLite ``QueueStore``: WAL, ``synchronous=FULL``, one writer thread, group commit.

``submit`` only appends; once per event-loop iteration the batches submitted in it go to the
writer thread in one hand-over. The writer takes every batch waiting, applies them all in ONE
transaction (message inserts and deletes as multi-row statements, other runs of one kind
through one ``executemany``), commits (an fsync), then resolves all their futures with one
``call_soon_threadsafe``. Under load many Sends share each fsync; idle, a batch commits at
once: nothing waits for a batch to fill. If a group fails, its batches are retried one
transaction each so that one bad batch cannot fail the others.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
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
  PRIMARY KEY (room, name));
CREATE TABLE IF NOT EXISTS messages (
  id TEXT NOT NULL, room TEXT NOT NULL, queue TEXT NOT NULL, seq INTEGER PRIMARY KEY,
  body TEXT NOT NULL, headers TEXT NOT NULL, enqueued_at REAL NOT NULL,
  attempts INTEGER NOT NULL, ready_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (room, queue);
CREATE TABLE IF NOT EXISTS dedup (
  room TEXT NOT NULL, queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,
  expires_at REAL NOT NULL, PRIMARY KEY (room, queue, dedup_id));
"""

# Each kind's statements; all take the op's params.
_SQL: dict[int, tuple[str, ...]] = {
    s.ROOM_PUT: ("INSERT OR REPLACE INTO rooms VALUES (?, ?)",),
    s.ROOM_DEL: ("DELETE FROM rooms WHERE name = ?",),
    s.QUEUE_PUT: ("INSERT OR REPLACE INTO queues VALUES (?, ?, ?, ?, ?, ?)",),
    s.QUEUE_DEL: (
        "DELETE FROM messages WHERE room = ?1 AND queue = ?2",
        "DELETE FROM dedup WHERE room = ?1 AND queue = ?2",
        "DELETE FROM queues WHERE room = ?1 AND name = ?2",
    ),
    s.QUEUE_CLEAR: ("DELETE FROM messages WHERE room = ? AND queue = ?",),
    s.MSG_PUT: ("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",),
    s.MSG_DEL: ("DELETE FROM messages WHERE seq = ?",),
    s.MSG_UPDATE: ("UPDATE messages SET attempts = ?, ready_at = ?, headers = ? WHERE seq = ?",),
    s.MSG_MOVE: (
        "UPDATE messages SET room = ?, queue = ?, attempts = ?, ready_at = ?, headers = ? "
        "WHERE seq = ?",
    ),
    s.DEDUP_PUT: ("INSERT OR REPLACE INTO dedup VALUES (?, ?, ?, ?, ?)",),
    s.DEDUP_PRUNE: ("DELETE FROM dedup WHERE room = ? AND queue = ? AND expires_at <= ?",),
}

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

    # -- lifecycle --------------------------------------------------------------------------

    async def load(self) -> s.Snapshot:
        self._loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="meshq-queue-writer",
                                            daemon=True)
            self._thread.start()
        future: asyncio.Future[s.Snapshot] = self._loop.create_future()
        self._inbox.put(lambda: self._call(future, self._read_all))
        return await future

    async def close(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        self._hand_over()
        self._inbox.put(_STOP)
        await asyncio.to_thread(thread.join)

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

    def _read_all(self) -> s.Snapshot:
        conn = self._conn
        assert conn is not None
        return s.Snapshot(
            rooms=[(r[0], r[1]) for r in conn.execute("SELECT name, created_at FROM rooms")],
            queues=[s.StoredQueue(room=r[0], name=r[1], max_deliveries=r[2], dedup_window=r[3],
                                  closed=bool(r[4]), created_at=r[5])
                    for r in conn.execute("SELECT * FROM queues")],
            messages=[s.StoredMessage(id=r[0], room=r[1], queue=r[2], seq=r[3], body=r[4],
                                      headers_json=r[5], enqueued_at=r[6], attempts=r[7],
                                      ready_at=r[8])
                      for r in conn.execute("SELECT * FROM messages ORDER BY seq")],
            dedup=[s.StoredDedup(room=r[0], queue=r[1], dedup_id=r[2], message_id=r[3],
                                 expires_at=r[4])
                   for r in conn.execute("SELECT * FROM dedup")],
        )


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
        kind = ops[i][0]
        if kind == s.MSG_PUT or kind == s.MSG_DEL:
            puts: list[Any] = []
            dels: list[Any] = []
            while i < n and (kind := ops[i][0]) in (s.MSG_PUT, s.MSG_DEL):
                if kind == s.MSG_PUT:
                    puts.extend(ops[i][1])
                else:
                    dels.append(ops[i][1][0])
                i += 1
            _many_rows(plan, _insert_sql, puts, 9)
            _many_rows(plan, _delete_sql, dels, 1)
            continue
        j = i + 1
        while j < n and ops[j][0] == kind:
            j += 1
        params = [op[1] for op in ops[i:j]]
        plan.extend((sql, params, True) for sql in _SQL[kind])
        i = j
    return plan


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
