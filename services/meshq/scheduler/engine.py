"""The scheduler engine: tasks in memory over a durable store, and the loop that fires them.

One heap holds every task's next due instant; the loop sleeps on the monotonic clock (an
``asyncio.wait_for`` on a wake-up event) until the earliest, never polling per task. Adding,
updating or deleting a task sets the event; the sleep is capped (``MAX_SLEEP``) and the wall
clock re-read on every wake, so a wall-clock jump is noticed within that cap.

Fires and mutations of a task are serialised by a per-task lock held across the send, so once
``delete_task`` or a deactivating ``update_task`` returns, no later enqueue can commit.
``fire.py`` has the write order that makes each fire exactly-once; ``plan.py`` the misfire
policy. ``run_due(now_ms)`` is the loop's body, called directly by tests with fixed instants.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from meshq.core.errors import InvalidArgument, NotFound, Unavailable
from meshq.scheduler import cron
from meshq.scheduler.engine_state import TaskState
from meshq.scheduler.enqueuer import Enqueuer
from meshq.scheduler.fire import Pending, Settled, send_all
from meshq.scheduler.model import RunOutcome, Task, TaskRun, TaskSpec, TaskUpdate, TaskView
from meshq.scheduler.observer import SchedulerObserver
from meshq.scheduler.plan import plan_instants
from meshq.scheduler.store import ScheduleStore
from meshq.scheduler.validate import apply_update, check_spec

logger = logging.getLogger(__name__)

MISFIRE_GRACE = 5.0  # seconds an instant may be late and still count as on time, not missed
MAX_SLEEP = 30.0  # seconds: the longest sleep, so a wall-clock jump is noticed within it
MAX_INSTANTS_PER_PASS = 100_000  # missed instants of one task enumerated in one pass
RETRY_MIN, RETRY_MAX = 0.5, 30.0  # seconds between re-sends while the queue service is down
DEFAULT_RUNS_LIMIT = 100
FIRE_CHUNK = 1000  # ledger rows per record transaction when many tasks are due together


class _Chunk:
    """Ledger rows, cursor moves and sends of part of one pass."""

    def __init__(self) -> None:
        self.rows: list[TaskRun] = []
        self.skips: list[TaskRun] = []
        self.pending: list[Pending] = []
        self.cursors: dict[str, int] = {}
        self.states: list[TaskState] = []

    def add(self, state: TaskState, decisions: list[tuple[int, RunOutcome | None]], now_ms: int) -> None:
        task = state.task
        for ms, outcome in decisions:
            run = TaskRun(task_id=task.id, scheduled_ms=ms, fired_at_ms=now_ms,
                          outcome=outcome or RunOutcome.SENDING, queue=task.spec.queue)
            self.rows.append(run)
            if outcome is None:
                self.pending.append(Pending(task, run, state.prepared(ms)))
            else:
                self.skips.append(run)
        self.cursors[task.id] = decisions[-1][0]
        self.states.append(state)


def preview(schedule: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` instants of a schedule: the very function the loop fires with."""
    if not 1 <= count <= cron.MAX_PREVIEW:
        raise InvalidArgument(f"count must be between 1 and {cron.MAX_PREVIEW}, got {count}")
    cron.check_instant("from", after)
    parsed = cron.parse_schedule(schedule)
    return cron.next_instants(parsed, cron.parse_timezone(timezone), after, count)


class SchedulerEngine:
    """Owns tasks, the heap and the loop; the servicer and tests call its methods."""

    def __init__(self, store: ScheduleStore, enqueuer: Enqueuer, *,
                 observer: SchedulerObserver | None = None, clock: Callable[[], float] = time.time,
                 misfire_grace_seconds: float = MISFIRE_GRACE, run_loop: bool = True) -> None:
        self.store = store
        self.enqueuer = enqueuer
        self.observer = observer or SchedulerObserver()
        self.clock = clock
        self.grace_ms = int(misfire_grace_seconds * 1000)
        self.run_loop = run_loop
        self._state: dict[str, TaskState] = {}
        self._heap: list[tuple[int, str]] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry: list[Pending] = []
        self._retry_at_ms = 0
        self._retry_delay = RETRY_MIN
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load tasks, repair fires a crash left SENDING, then start the loop (catch-up runs
        in its first pass)."""
        await self._reload()
        unsettled = await asyncio.to_thread(self.store.unsettled)
        self._retry = [Pending(self._state[r.task_id].task, r) for r in unsettled if r.task_id in self._state]
        if self._retry:
            logger.info("re-sending %d fires left unsettled by a crash", len(self._retry))
            await self.resend_unsettled()
        if self.run_loop:
            self._loop_task = asyncio.create_task(self._loop(), name="meshq-scheduler-loop")

    async def stop(self) -> None:
        """Stop the loop (a pass in progress finishes first). Safe to call twice."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None

    async def _reload(self) -> None:
        tasks = await asyncio.to_thread(self.store.list_tasks)
        last = await asyncio.to_thread(self.store.last_runs)
        enqueued = await asyncio.to_thread(self.store.last_enqueued)
        self._state.clear()
        self._heap.clear()
        for task in tasks:
            state = TaskState(task, last.get(task.id), enqueued.get(task.id))
            self._install(state)
        self._counts_changed()

    def _install(self, state: TaskState) -> None:
        self._state[state.task.id] = state
        state.restart_iterator()
        self._push(state)

    def _push(self, state: TaskState) -> None:
        if state.next_ms is not None:
            heapq.heappush(self._heap, (state.next_ms, state.task.id))
            self._wake.set()

    # -- the loop ------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wall0, mono0 = self.clock(), time.monotonic()
            try:
                await self.run_due(self.now_ms())
                if self._retry and self.now_ms() >= self._retry_at_ms:
                    await self.resend_unsettled()
            except Exception:
                logger.exception("scheduler pass failed; reloading tasks from the store")
                await asyncio.sleep(1.0)
                await self._reload()
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._sleep_seconds())
            except TimeoutError:
                pass
            drift = (self.clock() - wall0) - (time.monotonic() - mono0)
            if abs(drift) > 1.0:
                logger.warning("wall clock jumped by %.1f s; due instants recomputed", drift)

    def _sleep_seconds(self) -> float:
        now = self.now_ms()
        targets = [self._heap[0][0]] if self._heap else []
        if self._retry:
            targets.append(self._retry_at_ms)
        if not targets:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(0.0, (min(targets) - now) / 1000))

    async def run_due(self, now_ms: int) -> int:
        """Fire every task due at ``now_ms``; the number of ledger rows written."""
        due: list[str] = []
        seen: set[str] = set()
        while self._heap and self._heap[0][0] <= now_ms:
            ms, task_id = heapq.heappop(self._heap)
            state = self._state.get(task_id)
            if state is None or state.next_ms != ms or task_id in seen:
                continue  # a stale heap entry: the task changed or is gone
            seen.add(task_id)
            due.append(task_id)
        if not due:
            return 0
        async with self._locked(due):
            return await self._fire_locked(due, now_ms)

    @asynccontextmanager
    async def _locked(self, task_ids: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of these tasks (in id order, so two holders never deadlock)."""
        held: list[asyncio.Lock] = []
        try:
            for task_id in sorted(set(task_ids)):
                lock = self._locks.setdefault(task_id, asyncio.Lock())
                await lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in held:
                lock.release()

    def _decide(self, state: TaskState, now_ms: int) -> list[tuple[int, RunOutcome | None]]:
        """The due instants of one task and what becomes of each (fast path: one on time)."""
        nxt = state.next_ms
        if nxt is None or nxt > now_ms:
            return []
        if now_ms - nxt <= self.grace_ms:
            return [(nxt, None if state.task.spec.active else RunOutcome.SKIPPED_INACTIVE)]
        found = cron.instants_between(state.schedule, state.zone, cron.from_ms(state.task.cursor_ms),
                                      cron.from_ms(now_ms), MAX_INSTANTS_PER_PASS)
        state.iterator_stale = True
        return plan_instants(state.task.spec, [cron.to_ms(i) for i in found], now_ms, self.grace_ms)

    async def _fire_locked(self, task_ids: Sequence[str], now_ms: int) -> int:
        """Fire the due instants of tasks whose locks the caller holds.

        Chunks are pipelined: chunk k+1's ledger rows are written (in a thread) while chunk
        k's sends run; each chunk's rows still commit before its own sends start.
        """
        chunks: list[_Chunk] = [_Chunk()]
        touched: list[TaskState] = []
        for task_id in task_ids:
            state = self._state.get(task_id)
            decisions = self._decide(state, now_ms) if state is not None else []
            if state is None or not decisions:
                continue
            touched.append(state)
            decisions = await self._check_pending(state, decisions)
            if len(chunks[-1].rows) >= FIRE_CHUNK:
                chunks.append(_Chunk())
            chunks[-1].add(state, decisions, now_ms)
        sends: list[asyncio.Task[Settled]] = []
        try:
            for chunk in chunks:
                if not chunk.rows:
                    continue
                await asyncio.to_thread(self.store.record, chunk.rows, chunk.cursors)
                for state in chunk.states:
                    state.task = dataclasses.replace(state.task, cursor_ms=chunk.cursors[state.task.id])
                self._note_runs(chunk.skips, {})
                if chunk.pending:
                    sends.append(asyncio.create_task(send_all(self.enqueuer, chunk.pending, self.now_ms)))
        finally:
            if sends:
                results = await asyncio.gather(*sends)
                await self._settle(Settled.merge(results))
        for index, state in enumerate(touched):
            state.advance()
            self._push(state)
            if index % 500 == 499:
                await asyncio.sleep(0)  # computing next instants is CPU: let others in
        return sum(len(c.rows) for c in chunks)

    async def _check_pending(self, state: TaskState, decisions: list[tuple[int, RunOutcome | None]]
                             ) -> list[tuple[int, RunOutcome | None]]:
        """skip_if_pending: a send becomes SKIPPED_PENDING while the last message is queued."""
        last = state.last_enqueued
        spec = state.task.spec
        if not spec.skip_if_pending or last is None or all(o is not None for _, o in decisions):
            return decisions
        try:
            pending = await self.enqueuer.is_pending(spec.room, last.queue, last.message_id)
        except Exception as err:  # cannot tell: send, and let the send report the problem
            logger.warning("skip_if_pending check of task %s failed: %s", state.task.id, err)
            pending = False
        if not pending:
            return decisions
        return [(ms, RunOutcome.SKIPPED_PENDING if o is None else o) for ms, o in decisions]

    async def _send_and_settle(self, pending: Sequence[Pending]) -> Settled:
        """Send SENDING rows, write their outcomes, deactivate fired ``once`` tasks."""
        return await self._settle(await send_all(self.enqueuer, pending, self.now_ms))

    async def _settle(self, settled: Settled) -> Settled:
        deactivate = [r.task_id for r in settled.runs if r.outcome is RunOutcome.ENQUEUED
                      and r.task_id in self._state and self._state[r.task_id].task.spec.once
                      and not r.manual]
        if settled.runs:
            await asyncio.to_thread(self.store.settle, settled.runs, deactivate)
        for task_id in deactivate:
            self._state[task_id].deactivate()
        self._note_runs(settled.runs, settled.committed_at_ms)
        if settled.retry:
            self._retry.extend(settled.retry)
            self._retry_at_ms = self.now_ms() + int(self._retry_delay * 1000)
            self._retry_delay = min(RETRY_MAX, self._retry_delay * 2)
            logger.warning("queue service unavailable: %d fires will be re-sent", len(settled.retry))
        elif settled.runs:
            self._retry_delay = RETRY_MIN
        return settled

    def _note_runs(self, runs: Iterable[TaskRun], committed: dict[tuple[str, int], int]) -> None:
        for run in runs:
            state = self._state.get(run.task_id)
            if state is None:
                continue
            state.note(run)
            done = committed.get((run.task_id, run.scheduled_ms))
            lag = (done - run.scheduled_ms) / 1000 if done is not None and not run.manual else None
            self.observer.fired(state.task.spec.room, run.queue, run.task_id, run.outcome.value, lag)

    async def resend_unsettled(self) -> None:
        """Re-send rows left SENDING (crash or unavailable queue service), same dedup ids."""
        retry, self._retry = self._retry, []
        async with self._locked(p.run.task_id for p in retry):
            alive = [Pending(self._state[p.run.task_id].task, p.run) for p in retry
                     if p.run.task_id in self._state]
            await self._send_and_settle(alive)

    # -- the API -------------------------------------------------------------------------

    async def add_task(self, spec: TaskSpec) -> TaskView:
        spec = check_spec(spec)
        if not await self.enqueuer.room_exists(spec.room):
            raise NotFound(f"room {spec.room!r} does not exist: create it first")
        now = self.now_ms()
        task = Task(id=uuid.uuid4().hex, spec=spec, created_at_ms=now, cursor_ms=now)
        await asyncio.to_thread(self.store.add_task, task)
        self._install(TaskState(task, None, None))
        self._counts_changed()
        return self._view(self._state[task.id])

    def get_task(self, task_id: str) -> TaskView:
        return self._view(self._get(task_id))

    def list_tasks(self, room: str = "", active_only: bool = False) -> list[TaskView]:
        states = sorted(self._state.values(), key=lambda s: (s.task.created_at_ms, s.task.id))
        return [self._view(s) for s in states
                if (not room or s.task.spec.room == room) and (not active_only or s.task.spec.active)]

    async def update_task(self, task_id: str, update: TaskUpdate) -> TaskView:
        """Apply the fields given. Instants already due fire with the old settings first; a
        change of timing (schedule, timezone, active, once) takes effect from now."""
        async with self._locked([task_id]):
            state = self._get(task_id)
            spec = apply_update(state.task.spec, update)
            now = self.now_ms()
            await self._fire_locked([task_id], now)
            timing = any(getattr(spec, f) != getattr(state.task.spec, f)
                         for f in ("schedule", "timezone", "active", "once"))
            cursor = max(state.task.cursor_ms, now) if timing else state.task.cursor_ms
            task = dataclasses.replace(state.task, spec=spec, cursor_ms=cursor)
            await asyncio.to_thread(self.store.put_task, task)
            state.task = task
            self._install(state)
        self._counts_changed()
        return self._view(state)

    async def delete_task(self, task_id: str) -> None:
        async with self._locked([task_id]):
            self._get(task_id)
            await asyncio.to_thread(self.store.delete_task, task_id)
            del self._state[task_id]
        self._locks.pop(task_id, None)
        self._counts_changed()

    async def trigger_task(self, task_id: str) -> TaskRun:
        """Enqueue the payload now (even when inactive), recorded as a manual ledger row."""
        async with self._locked([task_id]):
            state = self._get(task_id)
            ms = self.now_ms()
            while state.is_instant(ms) or await asyncio.to_thread(self.store.has_run, task_id, ms):
                ms += 1  # the ledger key is (task, instant): never collide with another row
            run = TaskRun(task_id=task_id, scheduled_ms=ms, fired_at_ms=ms, outcome=RunOutcome.SENDING,
                          queue=state.task.spec.queue, manual=True)
            await asyncio.to_thread(self.store.record, [run], {})
            settled = await self._send_and_settle([Pending(state.task, run)])
        if settled.retry:
            raise Unavailable("the queue service is unavailable; the fire is recorded and will be re-sent")
        return settled.runs[0]

    async def runs(self, task_id: str, limit: int = 0) -> list[TaskRun]:
        self._get(task_id)
        return await asyncio.to_thread(self.store.runs, task_id, min(limit or DEFAULT_RUNS_LIMIT, 10_000))

    def _get(self, task_id: str) -> TaskState:
        state = self._state.get(task_id)
        if state is None:
            raise NotFound(f"task_id {task_id!r} does not exist")
        return state

    def _view(self, state: TaskState) -> TaskView:
        spec = state.task.spec
        nxt = state.next_ms if spec.active else None
        return TaskView(task=state.task, next_fire_ms=nxt or 0, last_run=state.last_run)

    def _counts_changed(self) -> None:
        active = sum(1 for s in self._state.values() if s.task.spec.active)
        self.observer.tasks_changed(active, len(self._state) - active)

    def tasks(self) -> Iterator[Task]:
        return (s.task for s in self._state.values())
