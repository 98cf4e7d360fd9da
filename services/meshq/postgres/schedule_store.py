"""The PostgreSQL ``ScheduleStore``: tasks and the fire ledger shared by every replica.

Every replica runs the scheduler loop; the ledger's primary key (task_id, scheduled_ms)
decides which one fires an instant. ``record`` inserts the SENDING rows, moves the cursors
and, in the same transaction, inserts each fire's message into its queue (with the fire's
dedup id): the first replica to commit enqueued the instant, a second one meets the key and
writes nothing (``AlreadyExists``: its loop reloads from the store and goes on). The engine's
own send that follows ``record`` repeats that dedup id, so it enqueues nothing new and
returns the message id that ``settle`` then writes. A replica that dies between ``record``
and ``settle`` leaves a SENDING row whose message is already in its queue: exactly once
whoever repairs the row, or if nobody does.

A fire's message is inserted only where the send would succeed: the room exists and the
queue is not closed (a missing queue is created with default options, as the engine's
enqueuer does); otherwise nothing is inserted and the engine's send fails the fire.

``put_task`` never moves a cursor back (``GREATEST``): a replica whose view is a moment old
must not undo the instants another one already recorded (``record`` cannot: a stale replica's
rows meet the key). Every replica's engine holds the tasks in memory, so a change of tasks through one replica
NOTIFYs ``TASKS_CHANNEL`` (payload: the writing store's ``origin``); the other replicas'
listeners (``component.task_listener_for``) ask their engines to reload.

The Protocol is synchronous: the methods run the asyncpg code on a private loop thread.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from meshq.core.errors import AlreadyExists, NotFound
from meshq.postgres import messages
from meshq.postgres.loop_thread import LoopThread
from meshq.postgres.pool import Database, PoolSettings
from meshq.queue.model import QueueOptions
from meshq.scheduler.fire import message_for
from meshq.scheduler.model import MisfirePolicy, RunOutcome, Task, TaskRun, TaskSpec

_TASK_COLUMNS = (
    "id, room, queue, schedule, timezone, payload_json, active, once, name, annotations, "
    "catchup_window, misfire_policy, misfire_cap, jitter, skip_if_pending, created_at_ms, cursor_ms"
)
TASKS_CHANNEL = "meshq_tasks"  # NOTIFY channel of task changes; payload: the writer's origin
_RUN_COLUMNS = "task_id, scheduled_ms, fired_at_ms, outcome, queue, message_id, error, manual"
_INSERT_TASK = (f"INSERT INTO sched_tasks ({_TASK_COLUMNS}) VALUES "
                f"({', '.join(f'${i}' for i in range(1, 18))})")


def _task_row(task: Task) -> tuple[Any, ...]:
    s = task.spec
    return (task.id, s.room, s.queue, s.schedule, s.timezone, s.payload_json, s.active, s.once,
            s.name, json.dumps(s.annotations, sort_keys=True), s.catchup_window_seconds,
            s.misfire_policy.value, s.misfire_cap, s.jitter_seconds, s.skip_if_pending,
            task.created_at_ms, task.cursor_ms)


def _task(row: asyncpg.Record) -> Task:
    spec = TaskSpec(
        room=row["room"], queue=row["queue"], schedule=row["schedule"], timezone=row["timezone"],
        payload_json=row["payload_json"], active=row["active"], once=row["once"],
        name=row["name"], annotations=json.loads(row["annotations"]),
        catchup_window_seconds=row["catchup_window"],
        misfire_policy=MisfirePolicy(row["misfire_policy"]), misfire_cap=row["misfire_cap"],
        jitter_seconds=row["jitter"], skip_if_pending=row["skip_if_pending"])
    return Task(id=row["id"], spec=spec, created_at_ms=row["created_at_ms"],
                cursor_ms=row["cursor_ms"])


def _run_row(run: TaskRun) -> tuple[Any, ...]:
    return (run.task_id, run.scheduled_ms, run.fired_at_ms, run.outcome.value, run.queue,
            run.message_id, run.error, run.manual)


def _run(row: asyncpg.Record) -> TaskRun:
    return TaskRun(task_id=row["task_id"], scheduled_ms=row["scheduled_ms"],
                   fired_at_ms=row["fired_at_ms"], outcome=RunOutcome(row["outcome"]),
                   queue=row["queue"], message_id=row["message_id"], error=row["error"],
                   manual=row["manual"])


class PgScheduleStore:
    """Tasks (``sched_tasks``) and ledger (``sched_runs``) in PostgreSQL."""

    def __init__(self, url: str, *, max_connections: int = 4) -> None:
        self.origin = uuid.uuid4().hex
        """This store's name in its own change notifications (its listener skips them)."""
        self._thread = LoopThread("meshq-pg-scheduler")
        self._db = Database(PoolSettings(url=url, min_size=1, max_size=max_connections))
        try:
            self._thread.run(self._db.start(watch=False))
        except BaseException:
            self._thread.stop()
            raise

    def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            async with self._db.conn() as conn:
                return list(await conn.fetch(sql, *args))
        return self._thread.run(go())

    def _changing(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """A task write and its change notification, in one transaction."""
        async def go() -> list[asyncpg.Record]:
            async with self._db.tx() as conn:
                rows = list(await conn.fetch(sql, *args))
                if rows:
                    await self._changed(conn)
                return rows
        return self._thread.run(go())

    async def _changed(self, conn: asyncpg.Connection) -> None:
        await conn.execute("SELECT pg_notify($1, $2)", TASKS_CHANNEL, self.origin)

    def add_task(self, task: Task) -> None:
        self.add_tasks([task], one=True)

    def add_tasks(self, tasks: Sequence[Task], *, one: bool = False) -> None:
        async def go() -> None:
            async with self._db.tx() as conn:
                await conn.executemany(_INSERT_TASK, [_task_row(t) for t in tasks])
                await self._changed(conn)
        try:
            self._thread.run(go())
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"task {tasks[0].id} exists already" if one
                                else "a task id exists already") from None

    def put_task(self, task: Task) -> None:
        row = _task_row(task)
        sql = ("UPDATE sched_tasks SET room=$2, queue=$3, schedule=$4, timezone=$5, "
               "payload_json=$6, active=$7, once=$8, name=$9, annotations=$10, "
               "catchup_window=$11, misfire_policy=$12, misfire_cap=$13, jitter=$14, "
               "skip_if_pending=$15, created_at_ms=$16, cursor_ms=GREATEST(cursor_ms, $17) "
               "WHERE id=$1 RETURNING id")
        if not self._changing(sql, *row):
            raise NotFound(f"task {task.id} does not exist")

    def delete_task(self, task_id: str) -> bool:
        return bool(self._changing("DELETE FROM sched_tasks WHERE id=$1 RETURNING id", task_id))

    def get_task(self, task_id: str) -> Task | None:
        rows = self._fetch(f"SELECT {_TASK_COLUMNS} FROM sched_tasks WHERE id=$1", task_id)
        return _task(rows[0]) if rows else None

    def list_tasks(self) -> list[Task]:
        rows = self._fetch(f"SELECT {_TASK_COLUMNS} FROM sched_tasks ORDER BY created_at_ms, id")
        return [_task(r) for r in rows]

    def record(self, runs: Sequence[TaskRun], cursors: Mapping[str, int]) -> None:
        try:
            self._thread.run(self._record(runs, cursors))
        except asyncpg.ForeignKeyViolationError:
            raise NotFound("a ledger row names a task that does not exist") from None
        except asyncpg.UniqueViolationError:
            raise AlreadyExists("a ledger row for this task and instant exists already") from None

    async def _record(self, runs: Sequence[TaskRun], cursors: Mapping[str, int]) -> None:
        async with self._db.tx() as conn:
            await conn.executemany(
                f"INSERT INTO sched_runs ({_RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [_run_row(r) for r in runs])
            if cursors:
                await conn.execute(
                    "UPDATE sched_tasks t SET cursor_ms = c.cursor FROM unnest($1::text[], "
                    "$2::bigint[]) AS c(id, cursor) WHERE t.id = c.id",
                    list(cursors), list(cursors.values()))
            sending = [r for r in runs if r.outcome is RunOutcome.SENDING]
            if sending:
                await _enqueue_fires(conn, sending)

    def settle(self, runs: Sequence[TaskRun], deactivate: Sequence[str] = ()) -> None:
        async def go() -> None:
            async with self._db.tx() as conn:
                if runs:
                    await conn.executemany(
                        "UPDATE sched_runs SET fired_at_ms=$1, outcome=$2, queue=$3, "
                        "message_id=$4, error=$5 WHERE task_id=$6 AND scheduled_ms=$7",
                        [(r.fired_at_ms, r.outcome.value, r.queue, r.message_id, r.error,
                          r.task_id, r.scheduled_ms) for r in runs])
                if deactivate:
                    await conn.execute("UPDATE sched_tasks SET active=false WHERE id = ANY($1)",
                                       list(deactivate))
                    await self._changed(conn)
        self._thread.run(go())

    def runs(self, task_id: str, limit: int) -> list[TaskRun]:
        rows = self._fetch(f"SELECT {_RUN_COLUMNS} FROM sched_runs WHERE task_id=$1 "
                           "ORDER BY scheduled_ms DESC LIMIT $2", task_id, limit)
        return [_run(r) for r in rows]

    def has_run(self, task_id: str, scheduled_ms: int) -> bool:
        return bool(self._fetch("SELECT 1 FROM sched_runs WHERE task_id=$1 AND scheduled_ms=$2",
                                task_id, scheduled_ms))

    def last_runs(self) -> dict[str, TaskRun]:
        rows = self._fetch(f"SELECT DISTINCT ON (task_id) {_RUN_COLUMNS} FROM sched_runs "
                           "ORDER BY task_id, scheduled_ms DESC")
        return {r["task_id"]: _run(r) for r in rows}

    def last_enqueued(self) -> dict[str, TaskRun]:
        rows = self._fetch(f"SELECT DISTINCT ON (task_id) {_RUN_COLUMNS} FROM sched_runs "
                           "WHERE outcome='enqueued' ORDER BY task_id, scheduled_ms DESC")
        return {r["task_id"]: _run(r) for r in rows}

    def unsettled(self) -> list[TaskRun]:
        rows = self._fetch(f"SELECT {_RUN_COLUMNS} FROM sched_runs WHERE outcome='sending' "
                           "ORDER BY scheduled_ms, task_id")
        return [_run(r) for r in rows]

    def close(self) -> None:
        try:
            self._thread.run(self._db.close())
        finally:
            self._thread.stop()


async def _enqueue_fires(conn: asyncpg.Connection, runs: Sequence[TaskRun]) -> None:
    """Insert the message of each SENDING row whose send would succeed (module docstring)."""
    ids = sorted({r.task_id for r in runs})
    tasks = {r["id"]: _task(r) for r in await conn.fetch(
        f"SELECT {_TASK_COLUMNS} FROM sched_tasks WHERE id = ANY($1)", ids)}
    groups: dict[tuple[str, str], list[TaskRun]] = {}
    for run in runs:
        task = tasks.get(run.task_id)
        if task is not None:
            groups.setdefault((task.spec.room, run.queue), []).append(run)
    now = runs[0].fired_at_ms / 1000
    for (room, queue), items in groups.items():
        if not await _open_queue(conn, room, queue, now):
            continue
        batch = []
        for run in items:
            out = message_for(tasks[run.task_id], run.scheduled_ms)
            headers = json.dumps(out.headers, separators=(",", ":")) if out.headers else "{}"
            batch.append(messages.Outgoing(body=out.body, headers_json=headers,
                                           delay=out.delay_seconds, dedup_id=out.dedup_id,
                                           dedup_window=out.dedup_window_seconds))
        await messages.insert(conn, room, queue, batch, now)


async def _open_queue(conn: asyncpg.Connection, room: str, queue: str, now: float) -> bool:
    """True when messages can go to (room, queue) now; a missing queue of an existing room
    is created with default options."""
    if not await conn.fetchval("SELECT true FROM q_rooms WHERE name=$1 FOR SHARE", room):
        return False
    defaults = QueueOptions()
    closed = await conn.fetchval(
        "INSERT INTO q_queues AS q (room, name, max_deliveries, dedup_window, created_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room, name) DO UPDATE SET closed = q.closed "
        "RETURNING closed", room, queue, defaults.max_deliveries,
        defaults.dedup_window_seconds, now)
    return not closed
