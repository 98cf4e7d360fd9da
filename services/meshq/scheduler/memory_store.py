"""An in-memory ``ScheduleStore`` for unit tests; same contract as the SQLite one."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence

from meshq.core.errors import AlreadyExists, NotFound
from meshq.scheduler.model import RunOutcome, Task, TaskRun


class MemoryScheduleStore:
    """Dicts behind a lock; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._runs: dict[str, dict[int, TaskRun]] = {}

    def add_task(self, task: Task) -> None:
        with self._lock:
            if task.id in self._tasks:
                raise AlreadyExists(f"task {task.id} exists already")
            self._tasks[task.id] = task
            self._runs[task.id] = {}

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        with self._lock:
            ids = [t.id for t in tasks]
            if len(set(ids)) != len(ids) or any(i in self._tasks for i in ids):
                raise AlreadyExists("a task id exists already")
            for task in tasks:
                self._tasks[task.id] = task
                self._runs[task.id] = {}

    def put_task(self, task: Task) -> None:
        with self._lock:
            if task.id not in self._tasks:
                raise NotFound(f"task {task.id} does not exist")
            self._tasks[task.id] = task

    def delete_task(self, task_id: str) -> bool:
        with self._lock:
            self._runs.pop(task_id, None)
            return self._tasks.pop(task_id, None) is not None

    def get_task(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def list_tasks(self) -> list[Task]:
        with self._lock:
            return sorted(self._tasks.values(), key=lambda t: (t.created_at_ms, t.id))

    def record(self, runs: Sequence[TaskRun], cursors: Mapping[str, int]) -> None:
        with self._lock:
            seen: set[tuple[str, int]] = set()
            for run in runs:
                key = (run.task_id, run.scheduled_ms)
                if run.task_id not in self._tasks:
                    raise NotFound(f"task {run.task_id} does not exist")
                if key in seen or run.scheduled_ms in self._runs[run.task_id]:
                    raise AlreadyExists(f"ledger row {key} exists already")
                seen.add(key)
            for run in runs:
                self._runs[run.task_id][run.scheduled_ms] = run
            for task_id, cursor in cursors.items():
                task = self._tasks.get(task_id)
                if task is not None:
                    self._tasks[task_id] = dataclasses.replace(task, cursor_ms=cursor)

    def settle(self, runs: Sequence[TaskRun], deactivate: Sequence[str] = ()) -> None:
        with self._lock:
            for run in runs:
                ledger = self._runs.get(run.task_id)
                if ledger is not None and run.scheduled_ms in ledger:
                    ledger[run.scheduled_ms] = run
            for task_id in deactivate:
                task = self._tasks.get(task_id)
                if task is not None:
                    spec = dataclasses.replace(task.spec, active=False)
                    self._tasks[task_id] = dataclasses.replace(task, spec=spec)

    def runs(self, task_id: str, limit: int) -> list[TaskRun]:
        with self._lock:
            ledger = self._runs.get(task_id, {})
            return [ledger[k] for k in sorted(ledger, reverse=True)[:limit]]

    def has_run(self, task_id: str, scheduled_ms: int) -> bool:
        with self._lock:
            return scheduled_ms in self._runs.get(task_id, {})

    def last_runs(self) -> dict[str, TaskRun]:
        with self._lock:
            return {tid: ledger[max(ledger)] for tid, ledger in self._runs.items() if ledger}

    def last_enqueued(self) -> dict[str, TaskRun]:
        with self._lock:
            out: dict[str, TaskRun] = {}
            for tid, ledger in self._runs.items():
                done = [k for k, r in ledger.items() if r.outcome is RunOutcome.ENQUEUED]
                if done:
                    out[tid] = ledger[max(done)]
            return out

    def unsettled(self) -> list[TaskRun]:
        with self._lock:
            rows = [r for ledger in self._runs.values() for r in ledger.values()
                    if r.outcome is RunOutcome.SENDING]
            return sorted(rows, key=lambda r: (r.scheduled_ms, r.task_id))

    def close(self) -> None:
        """Nothing to release."""
