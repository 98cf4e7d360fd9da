"""The scheduler's durable state: tasks and the fire ledger, behind one Protocol.

``SqliteScheduleStore`` is the real one, ``MemoryScheduleStore`` serves unit tests; one
contract-test suite (tests/scheduler/test_store_contract.py) runs against both.

Methods are synchronous and each is atomic: the engine runs them in a worker thread. The
two writes the exactly-once argument rests on are ``record`` (ledger rows inserted and task
cursors advanced in one transaction, before any send) and ``settle`` (rows' final outcomes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from meshq.scheduler.model import Task, TaskRun


class ScheduleStore(Protocol):
    """Tasks and their ledger (unique on task id and scheduled instant)."""

    def add_task(self, task: Task) -> None:
        """Store a new task; AlreadyExists if its id is taken."""

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        """Store many new tasks in one transaction (imports, benchmarks); all or none."""

    def put_task(self, task: Task) -> None:
        """Replace a stored task's spec and cursor; NotFound if it is missing."""

    def delete_task(self, task_id: str) -> bool:
        """Remove a task and its ledger; False if it was missing."""

    def get_task(self, task_id: str) -> Task | None:
        """One task, or None."""

    def list_tasks(self) -> list[Task]:
        """Every task, oldest first."""

    def record(self, runs: Sequence[TaskRun], cursors: Mapping[str, int]) -> None:
        """Insert ledger rows and move task cursors, atomically; AlreadyExists on a repeat key
        (then nothing is written)."""

    def settle(self, runs: Sequence[TaskRun], deactivate: Sequence[str] = ()) -> None:
        """Set the outcome, message id, error and time of existing rows, and mark tasks
        inactive, atomically."""

    def runs(self, task_id: str, limit: int) -> list[TaskRun]:
        """A task's ledger, newest scheduled instant first."""

    def has_run(self, task_id: str, scheduled_ms: int) -> bool:
        """True when the ledger has a row for this task and instant."""

    def last_runs(self) -> dict[str, TaskRun]:
        """Each task's row with the latest scheduled instant."""

    def last_enqueued(self) -> dict[str, TaskRun]:
        """Each task's latest row whose outcome is ENQUEUED."""

    def unsettled(self) -> list[TaskRun]:
        """Rows still SENDING (a crash came between record and settle), oldest first."""

    def close(self) -> None:
        """Release the store."""
