"""One task as the engine holds it: the stored task, its parsed schedule, its next instant.

The next instant is computed right after each fire (``cron.next_ms_after``, cached, so tasks
sharing a schedule and zone cost one computation), and the message of that instant is built
(and validated by an in-process queue backend) then too: when it comes due, the common case
(one instant, on time) needs no cron work, no message building and no validation before the
ledger write and the send.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from meshq.core.errors import InvalidArgument
from meshq.scheduler import cron
from meshq.scheduler.enqueuer import Outgoing
from meshq.scheduler.fire import message_for
from meshq.scheduler.model import RunOutcome, Task, TaskRun

logger = logging.getLogger(__name__)


def _as_is(message: Outgoing) -> Outgoing:
    return message


class TaskState:
    """A task, its next due instant, and its latest ledger rows."""

    __slots__ = ("task", "last_run", "last_enqueued", "next_ms", "schedule", "zone", "_prepared",
                 "_ready")

    def __init__(self, task: Task, last_run: TaskRun | None, last_enqueued: TaskRun | None, *,
                 ready: Callable[[Outgoing], Outgoing] = _as_is) -> None:
        """``ready`` finishes a message built ahead (``Enqueuer.prepare``)."""
        self.task = task
        self.last_run = last_run
        self.last_enqueued = last_enqueued
        self._ready = ready
        self.next_ms: int | None = None
        self._prepared: tuple[int, Task, Outgoing] | None = None
        self.schedule: cron.Schedule | None = None
        self.zone = cron.parse_timezone("UTC")
        self._parse()

    def _parse(self) -> None:
        """Parse the schedule and zone. A stored task whose schedule this version refuses (an
        older one accepted ``22-2``, ``15W``, ``localtime``) is held without instants and
        logged: it stays visible, and UpdateTask can fix it."""
        try:
            self.schedule = cron.parse_schedule(self.task.spec.schedule)
            self.zone = cron.parse_timezone(self.task.spec.timezone)
        except InvalidArgument as err:
            self.schedule = None
            logger.error("task %s will not fire: %s", self.task.id, err.message)

    @property
    def done(self) -> bool:
        """A ``once`` task that is inactive has no due instants (it fired, or it is paused)."""
        return self.task.spec.once and not self.task.spec.active

    def restart(self) -> None:
        """Re-read the schedule and zone (the spec changed), then recompute the next instant."""
        self._parse()
        self.advance()

    def advance(self) -> None:
        """Compute the next instant after the cursor, and build its message ahead."""
        self._prepared = None
        if self.done or self.schedule is None:
            self.next_ms = None
            return
        try:
            self.next_ms = cron.next_ms_after(self.schedule, self.zone, self.task.cursor_ms)
        except cron.BudgetExhausted:  # not seen for a valid schedule; never stall the loop
            logger.error("task %s: no next instant within the work bound", self.task.id)
            self.next_ms = None
        if self.next_ms is not None and self.task.spec.active:
            message = self._ready(message_for(self.task, self.next_ms))
            self._prepared = (self.next_ms, self.task, message)

    def prepared(self, ms: int) -> Outgoing | None:
        """The message built ahead for instant ``ms``, if the task has not changed since."""
        prepared = self._prepared
        if prepared is not None and prepared[0] == ms and prepared[1].spec is self.task.spec:
            return prepared[2]
        return None

    def move_cursor(self, cursor_ms: int) -> None:
        """The ledger has rows up to ``cursor_ms`` now (after ``record`` committed)."""
        self.task = Task(id=self.task.id, spec=self.task.spec, created_at_ms=self.task.created_at_ms,
                         cursor_ms=cursor_ms)

    def deactivate(self) -> None:
        spec = dataclasses.replace(self.task.spec, active=False)
        self.task = dataclasses.replace(self.task, spec=spec)
        self.advance()

    def note(self, run: TaskRun) -> None:
        """Remember a final ledger row for the task view and skip_if_pending."""
        if self.last_run is None or run.scheduled_ms >= self.last_run.scheduled_ms:
            self.last_run = run
        if run.outcome is RunOutcome.ENQUEUED and (
            self.last_enqueued is None or run.scheduled_ms >= self.last_enqueued.scheduled_ms
        ):
            self.last_enqueued = run

    def is_instant(self, ms: int) -> bool:
        """True when ``ms`` is one of the schedule's instants."""
        if self.schedule is None:
            return False
        return cron.next_ms_after(self.schedule, self.zone, ms - 1) == ms
