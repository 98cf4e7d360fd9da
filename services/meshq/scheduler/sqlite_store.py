"""The SQLite ``ScheduleStore``: WAL, ``synchronous=FULL``, one connection behind a lock.

The ledger's primary key is (task_id, scheduled_ms): a due instant can have one row only,
which is what makes the scheduler's exactly-once argument checkable in SQL.

A task's cursor is the later of its ``cursor_ms`` column and its latest scheduled (not
manual) ledger row: ``record`` rewrites the column only for a cursor its own rows do not
imply (or one that moves back). A burst's cursor moves are then its ledger rows themselves,
in the same transaction, instead of a rewrite of every fired task's row (a fifth of a burst's
ledger CPU, measured). The engine never records a row past its task's cursor, so the column
and the rows never disagree about an instant.

Rows still SENDING are found through ``sending_marks``: one row per ``record`` transaction
that wrote SENDING rows, holding their keys as one JSON array, deleted once all of them are
settled. A partial index on the outcome did the same, at a B-tree insert and delete per fire
(a fifth of a burst's ledger CPU, measured); a mark is one row per transaction. Only a
restart after a crash reads the marks back.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from meshq.core.errors import AlreadyExists, NotFound
from meshq.scheduler.model import MisfirePolicy, RunOutcome, Task, TaskRun, TaskSpec

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  room TEXT NOT NULL,
  queue TEXT NOT NULL,
  schedule TEXT NOT NULL,
  timezone TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  active INTEGER NOT NULL,
  once INTEGER NOT NULL,
  name TEXT NOT NULL,
  annotations TEXT NOT NULL,
  catchup_window REAL NOT NULL,
  misfire_policy TEXT NOT NULL,
  misfire_cap INTEGER NOT NULL,
  jitter REAL NOT NULL,
  skip_if_pending INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  cursor_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  scheduled_ms INTEGER NOT NULL,
  fired_at_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  error TEXT NOT NULL,
  manual INTEGER NOT NULL,
  PRIMARY KEY (task_id, scheduled_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sending_marks (id INTEGER PRIMARY KEY, keys TEXT NOT NULL);
"""

_TASK_COLUMNS = (
    "id, room, queue, schedule, timezone, payload_json, active, once, name, annotations, "
    "catchup_window, misfire_policy, misfire_cap, jitter, skip_if_pending, created_at_ms, cursor_ms"
)
_RUN_COLUMNS_LIST = ("task_id", "scheduled_ms", "fired_at_ms", "outcome", "queue", "message_id",
                     "error", "manual")
_RUN_COLUMNS = ", ".join(_RUN_COLUMNS_LIST)
# A file of an earlier version finds its SENDING rows by a partial index: turned into a mark.
_MIGRATE_SENDING_INDEX = (
    "INSERT INTO sending_marks (keys) SELECT json_group_array(json_array(task_id, scheduled_ms)) "
    "FROM runs WHERE outcome = 'sending' HAVING count(*) > 0",
    "DROP INDEX runs_sending",
)
# The marked rows that are still SENDING, with the mark that holds each.
_MARKED = (f"SELECT m.id AS mark, {', '.join('r.' + c for c in _RUN_COLUMNS_LIST)} "
           "FROM sending_marks m, json_each(m.keys) k JOIN runs r "
           "ON r.task_id = json_extract(k.value, '$[0]') "
           "AND r.scheduled_ms = json_extract(k.value, '$[1]') "
           "WHERE r.outcome = 'sending'")
# The cursor as read: the column, or the latest scheduled row when later (walked from the
# newest row back, past manual ones: no scan of the task's history).
_CURSOR = ("max(cursor_ms, coalesce((SELECT r.scheduled_ms FROM runs r WHERE r.task_id = tasks.id "
           "AND r.manual = 0 ORDER BY r.scheduled_ms DESC LIMIT 1), cursor_ms)) AS cursor_ms")
_TASK_SELECT = _TASK_COLUMNS.removesuffix("cursor_ms") + _CURSOR


def _task_row(task: Task) -> tuple[object, ...]:
    s = task.spec
    return (
        task.id, s.room, s.queue, s.schedule, s.timezone, s.payload_json, int(s.active),
        int(s.once), s.name, json.dumps(s.annotations, sort_keys=True), s.catchup_window_seconds,
        s.misfire_policy.value, s.misfire_cap, s.jitter_seconds, int(s.skip_if_pending),
        task.created_at_ms, task.cursor_ms,
    )


def _task(row: sqlite3.Row) -> Task:
    spec = TaskSpec(
        room=row["room"], queue=row["queue"], schedule=row["schedule"], timezone=row["timezone"],
        payload_json=row["payload_json"], active=bool(row["active"]), once=bool(row["once"]),
        name=row["name"], annotations=json.loads(row["annotations"]),
        catchup_window_seconds=row["catchup_window"],
        misfire_policy=MisfirePolicy(row["misfire_policy"]), misfire_cap=row["misfire_cap"],
        jitter_seconds=row["jitter"], skip_if_pending=bool(row["skip_if_pending"]),
    )
    return Task(id=row["id"], spec=spec, created_at_ms=row["created_at_ms"], cursor_ms=row["cursor_ms"])


def _run_row(run: TaskRun) -> tuple[object, ...]:
    return (run.task_id, run.scheduled_ms, run.fired_at_ms, run.outcome.value, run.queue,
            run.message_id, run.error, int(run.manual))


def _run(row: sqlite3.Row) -> TaskRun:
    return TaskRun(
        task_id=row["task_id"], scheduled_ms=row["scheduled_ms"], fired_at_ms=row["fired_at_ms"],
        outcome=RunOutcome(row["outcome"]), queue=row["queue"], message_id=row["message_id"],
        error=row["error"], manual=bool(row["manual"]),
    )


# SQLite's page cache for this file (its default is 2 MiB): a burst touches a page of the
# tasks table and of the ledger per few fires; kept in memory, 10,000 fires record in ~25%
# less CPU (measured).
CACHE_KIB = 16 * 1024
# Ledger rows per INSERT statement, 8 variables each: a whole 4,000-task chunk in one statement
# (one GIL hand-over), within SQLite's variable limit (32,766 since 3.32; capped by the
# connection's own limit where it is lower).
_ROWS_PER_INSERT = 4000
_IDS_PER_UPDATE = 500  # task ids per cursor UPDATE statement


def _insert_runs(db: sqlite3.Connection, runs: Sequence[TaskRun]) -> None:
    """Insert ledger rows, many per statement: each statement releases and retakes the GIL
    once, and during a burst the event loop is busy sending, so fewer statements mean fewer
    waits for the GIL (the same rows, the same transaction).

    The rows go in key order (task id, instant): task ids are random, and inserting a burst's
    rows in the ledger's key order touches each B-tree page once instead of at random, which
    costs SQLite a third of the CPU (measured: 10,000 rows, ~95 instead of ~270 ms) and
    leaves fewer pages to write at commit."""
    values = sorted([_run_row(r) for r in runs])
    step = min(_ROWS_PER_INSERT, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 8)
    for start in range(0, len(values), step):
        part = values[start:start + step]
        marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(part))
        db.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES {marks}",
                   [v for row in part for v in row])


def _implied(runs: Sequence[TaskRun]) -> dict[str, int]:
    """Each task's latest scheduled (not manual) instant among ``runs``: the cursor these
    rows imply once committed."""
    latest: dict[str, int] = {}
    for run in runs:
        if not run.manual and run.scheduled_ms > latest.get(run.task_id, -1):
            latest[run.task_id] = run.scheduled_ms
    return latest


def _move_cursors(db: sqlite3.Connection, cursors: Mapping[str, int],
                  implied: Mapping[str, int], columns: Mapping[str, int]) -> dict[str, int]:
    """Set the task cursors the recorded rows do not imply (``_implied``), one statement per
    cursor value and ``_IDS_PER_UPDATE`` ids (a burst's tasks mostly share one instant). A
    cursor the rows imply is written only where the stored column (``columns``, this
    store's copy of it) is later: a cursor moved back. Returns the columns written."""
    by_value: dict[int, list[str]] = {}
    for task_id, cursor in cursors.items():
        if implied.get(task_id) == cursor and columns.get(task_id, cursor) <= cursor:
            continue
        by_value.setdefault(cursor, []).append(task_id)
    for cursor, ids in by_value.items():
        for start in range(0, len(ids), _IDS_PER_UPDATE):
            part = ids[start:start + _IDS_PER_UPDATE]
            db.execute(f"UPDATE tasks SET cursor_ms=? WHERE id IN ({', '.join('?' * len(part))})",
                       [cursor, *part])
    return {task_id: cursor for cursor, ids in by_value.items() for task_id in ids}


class _Marks:
    """Which ``sending_marks`` row holds each SENDING row, and how many each still holds: a
    mark is deleted in the transaction that settles its last row."""

    def __init__(self) -> None:
        self._mark_of: dict[tuple[str, int], int] = {}
        self._left: dict[int, int] = {}

    def load(self, db: sqlite3.Connection) -> None:
        """Read the marks back (at open); a mark none of whose rows is SENDING is deleted."""
        marks = [row[0] for row in db.execute("SELECT id FROM sending_marks")]
        self._left = dict.fromkeys(marks, 0)
        for row in db.execute(_MARKED):
            self.add(row["mark"], [(row["task_id"], row["scheduled_ms"])])
        db.executemany("DELETE FROM sending_marks WHERE id=?",
                       [(m,) for m, left in self._left.items() if not left])
        self._left = {m: left for m, left in self._left.items() if left}

    def add(self, mark: int, keys: Sequence[tuple[str, int]]) -> None:
        mark_of = self._mark_of
        for key in keys:
            mark_of[key] = mark
        self._left[mark] = self._left.get(mark, 0) + len(keys)

    def settled(self, keys: Iterable[tuple[str, int]]) -> list[int]:
        """Forget these rows; the marks left with none."""
        done: list[int] = []
        pop, left = self._mark_of.pop, self._left
        for key in keys:
            mark = pop(key, None)
            if mark is not None:
                left[mark] -= 1
                if not left[mark]:
                    del left[mark]
                    done.append(mark)
        return done


class SqliteScheduleStore:
    """Tasks and ledger in one SQLite file (e.g. ``<data dir>/scheduler.db``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # The ledger's REFERENCES clause is not enforced: ``record`` checks its tasks against
        # ``_columns`` and ``delete_task`` deletes the task's rows itself (per-row foreign
        # key checks were a sixth of a burst's ledger CPU, measured).
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._marks = _Marks()
        with self._tx() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs_sending'").fetchone():
                for statement in _MIGRATE_SENDING_INDEX:
                    db.execute(statement)
            self._marks.load(db)
            # this store's copy of every task's stored cursor column (the one process that
            # writes the file keeps it): which tasks exist, and which cursors need a write
            self._columns: dict[str, int] = dict(db.execute("SELECT id, cursor_ms FROM tasks"))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def add_task(self, task: Task) -> None:
        try:
            with self._tx() as db:
                db.execute(f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                           _task_row(task))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"task {task.id} exists already") from None
        self._remember({task.id: task.cursor_ms})

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        try:
            with self._tx() as db:
                db.executemany(f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                               [_task_row(t) for t in tasks])
        except sqlite3.IntegrityError:
            raise AlreadyExists("a task id exists already") from None
        self._remember({t.id: t.cursor_ms for t in tasks})

    def put_task(self, task: Task) -> None:
        with self._tx() as db:
            row = _task_row(task)
            cur = db.execute(
                "UPDATE tasks SET room=?, queue=?, schedule=?, timezone=?, payload_json=?, active=?, "
                "once=?, name=?, annotations=?, catchup_window=?, misfire_policy=?, misfire_cap=?, "
                "jitter=?, skip_if_pending=?, created_at_ms=?, cursor_ms=? WHERE id=?",
                row[1:] + row[:1],
            )
            if cur.rowcount == 0:
                raise NotFound(f"task {task.id} does not exist")
        self._remember({task.id: task.cursor_ms})

    def delete_task(self, task_id: str) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM runs WHERE task_id=?", (task_id,))
            deleted = db.execute("DELETE FROM tasks WHERE id=?", (task_id,)).rowcount > 0
        with self._lock:  # once committed: a failed transaction keeps the task
            self._columns.pop(task_id, None)
        return deleted

    def _remember(self, columns: Mapping[str, int]) -> None:
        """Update this store's copy of stored cursor columns once their transaction has
        committed (a failed one, the COMMIT included, leaves the copy as the file is)."""
        with self._lock:
            self._columns.update(columns)

    def get_task(self, task_id: str) -> Task | None:
        rows = self._query(f"SELECT {_TASK_SELECT} FROM tasks WHERE id=?", (task_id,))
        return _task(rows[0]) if rows else None

    def list_tasks(self) -> list[Task]:
        rows = self._query(f"SELECT {_TASK_SELECT} FROM tasks ORDER BY created_at_ms, id")
        return [_task(r) for r in rows]

    def record(self, runs: Sequence[TaskRun], cursors: Mapping[str, int]) -> None:
        implied = _implied(runs)
        sending = [(r.task_id, r.scheduled_ms) for r in runs if r.outcome is RunOutcome.SENDING]
        try:
            with self._tx() as db:
                columns = self._columns
                if any(r.task_id not in columns for r in runs):
                    raise NotFound("a ledger row names a task that does not exist")
                _insert_runs(db, runs)
                written = _move_cursors(db, cursors, implied, columns)
                mark = db.execute("INSERT INTO sending_marks (keys) VALUES (?)",
                                  (json.dumps(sending),)).lastrowid if sending else None
        except sqlite3.IntegrityError:
            raise AlreadyExists("a ledger row for this task and instant exists already") from None
        self._remember(written)
        if mark is not None:
            with self._lock:
                self._marks.add(mark, sending)

    def settle(self, runs: Sequence[TaskRun], deactivate: Sequence[str] = ()) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE runs SET fired_at_ms=?, outcome=?, queue=?, message_id=?, error=? "
                "WHERE task_id=? AND scheduled_ms=?",
                [(r.fired_at_ms, r.outcome.value, r.queue, r.message_id, r.error, r.task_id,
                  r.scheduled_ms) for r in runs],
            )
            db.executemany("UPDATE tasks SET active=0 WHERE id=?", [(t,) for t in deactivate])
            # (should this commit fail, the marks stay: a mark is deleted late, never early)
            done = self._marks.settled((r.task_id, r.scheduled_ms) for r in runs)
            db.executemany("DELETE FROM sending_marks WHERE id=?", [(m,) for m in done])

    def runs(self, task_id: str, limit: int) -> list[TaskRun]:
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE task_id=? "
                           "ORDER BY scheduled_ms DESC LIMIT ?", (task_id, limit))
        return [_run(r) for r in rows]

    def has_run(self, task_id: str, scheduled_ms: int) -> bool:
        return bool(self._query("SELECT 1 FROM runs WHERE task_id=? AND scheduled_ms=?",
                                (task_id, scheduled_ms)))

    def last_runs(self) -> dict[str, TaskRun]:
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE (task_id, scheduled_ms) IN "
            "(SELECT task_id, MAX(scheduled_ms) FROM runs GROUP BY task_id)")
        return {r["task_id"]: _run(r) for r in rows}

    def last_enqueued(self) -> dict[str, TaskRun]:
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE (task_id, scheduled_ms) IN "
            "(SELECT task_id, MAX(scheduled_ms) FROM runs WHERE outcome='enqueued' GROUP BY task_id)")
        return {r["task_id"]: _run(r) for r in rows}

    def unsettled(self) -> list[TaskRun]:
        rows = self._query(f"{_MARKED} ORDER BY r.scheduled_ms, r.task_id")
        return [_run(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
