"""One pass over due tasks as one pipeline of batches: what is due, and the rows it writes.

``decide`` turns a task's due instants into decisions (send, or a recorded skip); ``Burst``
collects the ledger rows, cursor moves and messages of every due task, so that the engine
writes them in one ``record`` transaction, sends them grouped by (room, queue) in batches of
up to ``SEND_CHUNK`` messages, and settles them in one ``settle`` transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence

from meshq.scheduler import cron
from meshq.scheduler.engine_state import TaskState
from meshq.scheduler.enqueuer import Enqueuer
from meshq.scheduler.fire import Pending
from meshq.scheduler.model import RunOutcome, Task, TaskRun
from meshq.scheduler.plan import Decision, plan_instants

logger = logging.getLogger(__name__)

MAX_INSTANTS_PER_PASS = 100_000  # missed instants of one task enumerated in one pass
LEDGER_CHUNK = 500  # tasks of a burst's first record transaction (the pipeline's step);
MAX_LEDGER_CHUNK = 4000  # each next one doubles, up to this: sends start early, few fsyncs
PENDING_CHECKS = 64  # skip_if_pending queries in flight at once
PLAN_AHEAD_MS = 300  # a large burst's chunks are built this long before its instant
PLAN_AHEAD_TASKS = 1000  # ... when at least this many tasks are due on it
_new = tuple.__new__
_SENDING = RunOutcome.SENDING


def needs_enumeration(state: TaskState, now_ms: int, grace_ms: int) -> bool:
    """True when ``decide`` must enumerate missed instants (not the one known on-time one)."""
    nxt = state.next_ms
    return nxt is not None and nxt <= now_ms and now_ms - nxt > grace_ms


def decide(state: TaskState, now_ms: int, grace_ms: int) -> list[Decision]:
    """The due instants of one task and what becomes of each.

    Fast path: the one instant already known is due and on time (no cron work). Otherwise
    the instants after the cursor are enumerated and the misfire policy applies.
    """
    nxt = state.next_ms
    if nxt is None or nxt > now_ms:
        return []
    if now_ms - nxt <= grace_ms:
        return [(nxt, None if state.task.spec.active else RunOutcome.SKIPPED_INACTIVE)]
    schedule = state.schedule
    assert schedule is not None  # a task without a schedule has no next instant
    found = cron.ms_between(schedule, state.zone, state.task.cursor_ms, now_ms,
                            MAX_INSTANTS_PER_PASS)
    return plan_instants(state.task.spec, found, now_ms, grace_ms)


async def check_pending(enqueuer: Enqueuer, planned: list[tuple[TaskState, list[Decision]]]) -> None:
    """skip_if_pending: a send becomes SKIPPED_PENDING while the last message is queued.
    Only such tasks ask the queue, ``PENDING_CHECKS`` at a time; ``planned`` is updated."""
    asks = [(i, state) for i, (state, decisions) in enumerate(planned)
            if state.task.spec.skip_if_pending and state.last_enqueued is not None
            and any(o is None for _, o in decisions)]
    for start in range(0, len(asks), PENDING_CHECKS):
        part = asks[start:start + PENDING_CHECKS]
        answers = await asyncio.gather(*(_is_pending(enqueuer, state) for _, state in part))
        for (i, state), pending in zip(part, answers, strict=True):
            if pending:
                planned[i] = (state, [(ms, RunOutcome.SKIPPED_PENDING if o is None else o)
                                      for ms, o in planned[i][1]])


async def _is_pending(enqueuer: Enqueuer, state: TaskState) -> bool:
    last = state.last_enqueued
    assert last is not None
    try:
        return await enqueuer.is_pending(state.task.spec.room, last.queue, last.message_id)
    except Exception as err:  # cannot tell: send, and let the send report the problem
        logger.warning("skip_if_pending check of task %s failed: %s", state.task.id, err)
        return False


class Burst:
    """Ledger rows, cursor moves and sends of one pass."""

    __slots__ = ("now_ms", "rows", "skips", "pending", "cursors", "states")

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.rows: list[TaskRun] = []
        """Every row the pass writes: SENDING for a send, final for a skip."""
        self.skips: list[TaskRun] = []
        self.pending: list[Pending] = []
        self.cursors: dict[str, int] = {}
        self.states: list[TaskState] = []

    def add(self, state: TaskState, decisions: list[Decision]) -> None:
        task, now_ms = state.task, self.now_ms
        task_id, queue = task.id, task.spec.queue
        for ms, outcome in decisions:
            # TaskRun by position, without the NamedTuple's Python __new__ (once per fire)
            if outcome is None:
                run = _new(TaskRun, (task_id, ms, now_ms, _SENDING, queue, "", "", False))
                self.pending.append(Pending(task, run, state.prepared(ms)))
            else:
                run = _new(TaskRun, (task_id, ms, now_ms, outcome, queue, "", "", False))
                self.skips.append(run)
            self.rows.append(run)
        self.cursors[task_id] = decisions[-1][0]
        self.states.append(state)

    def move_cursors(self) -> None:
        """Move the tasks' cursors in memory to what ``record`` committed."""
        cursors = self.cursors
        for state in self.states:
            state.move_cursor(cursors[state.task.id])


def growing_chunks(states: Sequence[TaskState], first: int) -> Iterator[Sequence[TaskState]]:
    """The due tasks of a pass in chunks of ``first`` tasks, then twice as many each time up
    to ``MAX_LEDGER_CHUNK``: the first sends start soon after the instant, and a large burst
    still costs few ledger transactions (each one an fsync)."""
    start, size = 0, first
    while start < len(states):
        yield states[start:start + size]
        start += size
        size = max(size, min(size * 2, MAX_LEDGER_CHUNK))


class AheadPlan:
    """The chunks of a large burst, built before its instant (``PLAN_AHEAD_MS``).

    At the instant the first ledger transaction then starts at once, and the sends of one
    chunk do not wait while the event loop builds the next: that work was done while the
    loop had nothing to do. Only what is known ahead is planned: on-time fires of tasks
    without ``skip_if_pending`` (its answer belongs to the instant). Any mutation of a task
    replaces ``TaskState.task``, so a chunk any of whose tasks changed, moved or is not due
    any more is left out at the instant and built then, as without a plan. Planned rows
    carry the instant as ``fired_at_ms`` until they are settled.
    """

    __slots__ = ("instant", "_chunks")

    def __init__(self, instant: int) -> None:
        self.instant = instant
        self._chunks: list[tuple[Burst, list[tuple[TaskState, Task]]]] = []

    async def build(self, states: Sequence[TaskState], first_chunk: int) -> None:
        """Plan these tasks in the pipeline's chunks, yielding to the event loop after each
        (10,000 tasks are ~25 ms of CPU). A task that changes meanwhile is caught by
        ``take``: each chunk keeps the tasks as they were when it was built."""
        for part in growing_chunks(states, first_chunk):
            burst = Burst(self.instant)
            for state in part:
                active = state.task.spec.active
                burst.add(state, [(self.instant, None if active else RunOutcome.SKIPPED_INACTIVE)])
            self._chunks.append((burst, [(state, state.task) for state in part]))
            await asyncio.sleep(0)

    @staticmethod
    def plannable(state: TaskState, instant: int) -> bool:
        """True when the fire of ``state`` at ``instant`` can be decided ahead."""
        spec = state.task.spec
        return (state.next_ms == instant and not spec.skip_if_pending
                and (not spec.active or state.prepared(instant) is not None))

    def take(self, claimed: Sequence[TaskState], is_claimed: Callable[[TaskState], bool],
             now_ms: int, grace_ms: int) -> Taken:
        """What of the plan is still right at ``now_ms`` for these claimed tasks
        (``is_claimed`` tells one of them in constant time)."""
        on_time = 0 <= now_ms - self.instant <= grace_ms
        return Taken(self._chunks if on_time else [], claimed, is_claimed, self.instant)


class Taken:
    """The planned bursts of a pass, each checked only when the pipeline asks for it (the
    first ledger transaction waits for 500 checks, not 10,000), then the claimed tasks no
    planned burst took."""

    __slots__ = ("_chunks", "_claimed", "_is_claimed", "_instant", "_covered")

    def __init__(self, chunks: list[tuple[Burst, list[tuple[TaskState, Task]]]],
                 claimed: Sequence[TaskState], is_claimed: Callable[[TaskState], bool],
                 instant: int) -> None:
        self._chunks = chunks
        self._claimed = claimed
        self._is_claimed = is_claimed
        self._instant = instant
        self._covered: set[str] = set()

    def bursts(self) -> Iterator[Burst]:
        instant, is_claimed = self._instant, self._is_claimed
        for burst, members in self._chunks:
            if all(state.task is task and state.next_ms == instant and is_claimed(state)
                   for state, task in members):
                self._covered.update(task.id for _, task in members)
                yield burst

    def rest(self) -> list[TaskState]:
        """The claimed tasks no planned burst took (once ``bursts`` is exhausted)."""
        covered = self._covered
        return [state for state in self._claimed if state.task.id not in covered]
