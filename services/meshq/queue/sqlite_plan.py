"""How the SQLite store writes a group of batch records: as few statements as it can.

Each statement releases the GIL while SQLite works and must win it back from the event loop
after, so the plan matters: message inserts and deletes go as multi-row statements, other
runs of one kind of record through one ``executemany`` (dedup records as multi-row statements
too: a scheduler burst writes one per message). A delete of scattered seqs is
tombstones (``sqlite_tombstones``): those rows go later, in seq order, in bulk.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from itertools import chain
from typing import Any

from meshq.queue import store as s
from meshq.queue.sqlite_tombstones import scattered

_ROOM_PUT = "INSERT OR REPLACE INTO rooms VALUES (?, ?)"
_ROOM_DEL = "DELETE FROM rooms WHERE name = ?"
_QUEUE_PUT = ("INSERT OR REPLACE INTO queues (room, name, max_deliveries, dedup_window, closed, "
              "created_at, flow) VALUES (?, ?, ?, ?, ?, ?, ?)")
_QUEUE_DEL = (
    "DELETE FROM messages WHERE room = ?1 AND queue = ?2",
    "DELETE FROM dedup_log WHERE room = ?1 AND queue = ?2",
    "DELETE FROM queues WHERE room = ?1 AND name = ?2",
)
_QUEUE_CLEAR = "DELETE FROM messages WHERE room = ? AND queue = ?"
_MSG_UPDATE = "UPDATE messages SET attempts = ?, ready_at = ?, headers = ? WHERE seq = ?"
_MSG_MOVE = ("UPDATE messages SET room = ?, queue = ?, attempts = ?, ready_at = ?, headers = ? "
             "WHERE seq = ?")
_MSG_RESET = ("UPDATE messages SET room = ?, queue = ?, attempts = 0, ready_at = 0 "
              "WHERE seq = ?")
_DEDUP_PRUNE = "DELETE FROM dedup_log WHERE room = ? AND queue = ? AND expires_at <= ?"
_Statement = tuple[str, list[Any], bool]  # (sql, parameters, executemany?)


def apply(conn: sqlite3.Connection, ops: list[s.Op]) -> None:
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
            tombs: list[int] = []
            while i < n and type(op := ops[i]) in (s.PutMessages, s.DeleteMessages):
                if type(op) is s.PutMessages:
                    room, queue, now = op.room, op.queue, op.enqueued_at
                    for mid, seq, body, headers_json, ready_at in op.rows:
                        puts += (mid, room, queue, seq, body, headers_json, now, 0, ready_at)
                else:
                    seqs = op.seqs  # type: ignore[union-attr]
                    (tombs if scattered(seqs) else dels).extend(seqs)
                i += 1
            _many_rows(plan, _insert_sql, puts, 9)
            dels.sort()  # a few consecutive runs (several consumers' windows) touch fewer pages
            _many_rows(plan, _delete_sql, dels, 1)
            tombs.sort()
            _many_rows(plan, _tombstone_sql, tombs, 1)
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
    elif isinstance(op, s.PutDedup):  # a burst of scheduled fires: one per message
        # Appended in op order: a later record of one key is the one a restart keeps.
        _many_rows(plan, _dedup_sql, list(chain.from_iterable(run)), 5)  # type: ignore[arg-type]
    elif isinstance(op, s.DeleteQueue):
        plan.extend((sql, list(run), True) for sql in _QUEUE_DEL)
    else:
        plan.append((_SINGLE[type(op)], list(run), True))


_SINGLE: dict[type, str] = {
    s.PutRoom: _ROOM_PUT, s.DeleteRoom: _ROOM_DEL, s.PutQueue: _QUEUE_PUT,
    s.ClearQueue: _QUEUE_CLEAR, s.PruneDedup: _DEDUP_PRUNE,
}


ROWS_PER_STATEMENT = 256  # x 9 parameters stays far below SQLITE_MAX_VARIABLE_NUMBER
STATEMENT_CACHE = 4 * ROWS_PER_STATEMENT + 64  # every multi-row size stays prepared


@functools.cache
def _insert_sql(rows: int) -> str:
    return "INSERT INTO messages VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?)"] * rows)


@functools.cache
def _delete_sql(rows: int) -> str:
    return "DELETE FROM messages WHERE seq IN (" + ",".join(["?"] * rows) + ")"


@functools.cache
def _dedup_sql(rows: int) -> str:
    """Dedup records for ``rows`` messages, appended to the log (``sqlite_store``)."""
    return ("INSERT INTO dedup_log (room, queue, dedup_id, message_id, expires_at) VALUES "
            + ",".join(["(?,?,?,?,?)"] * rows))


@functools.cache
def _tombstone_sql(rows: int) -> str:
    """Tombstones for ``rows`` deleted messages (``sqlite_tombstones``)."""
    return "INSERT OR IGNORE INTO tombstones (seq) VALUES " + ",".join(["(?)"] * rows)


def _many_rows(plan: list[_Statement], sql: Callable[[int], str], flat: list[Any],
               width: int) -> None:
    """Add ``sql(k)`` over ``flat`` (``width`` parameters a row), 256 rows a statement."""
    step = ROWS_PER_STATEMENT * width
    for start in range(0, len(flat), step):
        chunk = flat[start:start + step]
        plan.append((sql(len(chunk) // width), chunk, False))


__all__ = ["ROWS_PER_STATEMENT", "STATEMENT_CACHE", "apply"]
