"""One task as the engine holds it: the stored task, its parsed schedule and its cron iterator.

The iterator is kept between fires so that the common case (one instant due, on time) needs
no cron computation before the send: the due instant is already known, and the next one is
computed after the fire has committed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime

from meshq.scheduler import cron
from meshq.scheduler.enqueuer import Outgoing
from meshq.scheduler.fire import message_for
from meshq.scheduler.model import RunOutcome, Task, TaskRun


class TaskState:
    """A task, its next due instant, and its latest ledger rows."""

    def __init__(self, task: Task, last_run: TaskRun | None, last_enqueued: TaskRun | None) -> None:
        self.task = task
        self.last_run = last_run
        self.last_enqueued = last_enqueued
        self.next_ms: int | None = None
        self.iterator_stale = False
        self._iter: Iterator[datetime] | None = None
        self._prepared: tuple[int, Task, Outgoing] | None = None
        self.schedule = cron.parse_schedule(task.spec.schedule)
        self.zone = cron.parse_timezone(task.spec.timezone)

    @property
    def done(self) -> bool:
        """A ``once`` task that is inactive has no due instants (it fired, or it is paused)."""
        return self.task.spec.once and not self.task.spec.active

    def restart_iterator(self) -> None:
        """Recompute the schedule, zone and next instant from the task's cursor."""
        self.schedule = cron.parse_schedule(self.task.spec.schedule)
        self.zone = cron.parse_timezone(self.task.spec.timezone)
        self.iterator_stale = False
        if self.done:
            self._iter, self.next_ms = None, None
            return
        self._iter = cron.iter_instants(self.schedule, self.zone, cron.from_ms(self.task.cursor_ms))
        self._pull()

    def _pull(self) -> None:
        assert self._iter is not None
        nxt = next(self._iter, None)
        self.next_ms = cron.to_ms(nxt) if nxt is not None else None
        self._prepared = None
        if self.next_ms is not None and self.task.spec.active:
            self._prepared = (self.next_ms, self.task, message_for(self.task, self.next_ms))

    def prepared(self, ms: int) -> Outgoing | None:
        """The message built ahead for instant ``ms``, if the task has not changed since."""
        if self._prepared is not None and self._prepared[0] == ms and self._prepared[1].spec is self.task.spec:
            return self._prepared[2]
        return None

    def advance(self) -> None:
        """After a fire: move the next instant past the cursor."""
        if self.iterator_stale or self.done or self._iter is None:
            self.restart_iterator()
        elif self.next_ms is not None and self.next_ms <= self.task.cursor_ms:
            self._pull()

    def deactivate(self) -> None:
        spec = dataclasses.replace(self.task.spec, active=False)
        self.task = dataclasses.replace(self.task, spec=spec)
        self.restart_iterator()

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
        nxt = cron.next_instant(self.schedule, self.zone, cron.from_ms(ms - 1))
        return nxt is not None and cron.to_ms(nxt) == ms
