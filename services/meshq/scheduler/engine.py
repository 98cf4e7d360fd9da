"""The scheduler engine: tasks in memory over a durable store, and the loop that fires them.

One heap holds the distinct due instants, each with the ids of the tasks due then; the loop
sleeps on the monotonic clock (an ``asyncio.wait_for`` on a wake-up event) until the earliest,
never polling per task. Adding, updating or deleting a task sets the event; the sleep is
capped (``MAX_SLEEP``) and the wall clock re-read on every wake, so a wall-clock jump is
noticed within that cap.

Every task due in a pass fires as one burst (``burst.py``): one ledger transaction, sends
batched per (room, queue), one settle transaction. The burst takes no per-task lock; it marks
its tasks as firing, and a mutation (delete, update, trigger) takes the task's lock and then
waits for a burst firing that task to end. So once ``delete_task`` or a deactivating
``update_task`` returns, no later enqueue can commit. ``fire.py`` has the write order that
makes each fire exactly-once; ``plan.py`` the misfire policy. ``run_due(now_ms)`` is the
loop's body, called directly by tests with fixed instants.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import heapq
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

from meshq.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from meshq.core.validation import shown
from meshq.scheduler.burst import (
    LEDGER_CHUNK,
    PLAN_AHEAD_MS,
    PLAN_AHEAD_TASKS,
    AheadPlan,
    Burst,
    Taken,
    check_pending,
    decide,
    growing_chunks,
    needs_enumeration,
)
from meshq.scheduler.engine_state import TaskState
from meshq.scheduler.enqueuer import Enqueuer
from meshq.scheduler.fire import Pending, SendResults, Settled, classify, send_all
from meshq.scheduler.model import RunOutcome, Task, TaskRun, TaskSpec, TaskUpdate, TaskView
from meshq.scheduler.observer import SchedulerObserver
from meshq.scheduler.plan import Decision
from meshq.scheduler.store import ScheduleStore
from meshq.scheduler.validate import apply_update, check_task

logger = logging.getLogger(__name__)

MISFIRE_GRACE = 5.0  # seconds an instant may be late and still count as on time, not missed
MAX_SLEEP = 30.0  # seconds: the longest sleep, so a wall-clock jump is noticed within it
RETRY_MIN, RETRY_MAX = 0.5, 30.0  # seconds between re-sends while the queue service is down
DEFAULT_RUNS_LIMIT = 100
GC_PAUSE_TASKS = 1000  # bursts of at least this many tasks run with cyclic GC paused
MAX_TASKS_PER_ROOM = 100  # default per-room limit on scheduled tasks (RESOURCE_EXHAUSTED)


def _target(state: TaskState) -> tuple[str, str]:
    return state.task.spec.room, state.task.spec.queue


def unknown_task(task_id: str) -> str:
    """The NOT_FOUND message of a task id: the same for an unknown task and for one in a room
    the caller may not use; the echoed id is cut short."""
    return f"task_id {shown(task_id, 48)} does not exist"


@contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    """No cyclic GC during a large burst: it allocates ~10 objects per task, and the
    collections this triggers scan the engine's long-lived task objects (30-100 ms measured
    for 10,000 tasks). Reference counting still frees everything acyclic; GC resumes after."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class SchedulerEngine:
    """Owns tasks, the heap and the loop; the servicer and tests call its methods."""

    def __init__(self, store: ScheduleStore, enqueuer: Enqueuer, *,
                 observer: SchedulerObserver | None = None, clock: Callable[[], float] = time.time,
                 misfire_grace_seconds: float = MISFIRE_GRACE, run_loop: bool = True,
                 max_tasks_per_room: int = MAX_TASKS_PER_ROOM,
                 ledger_chunk: int = LEDGER_CHUNK) -> None:
        self.store = store
        self.enqueuer = enqueuer
        self.observer = observer or SchedulerObserver()
        self.clock = clock
        self.grace_ms = int(misfire_grace_seconds * 1000)
        self.run_loop = run_loop
        self.max_tasks_per_room = max_tasks_per_room
        self.ledger_chunk = ledger_chunk
        self._state: dict[str, TaskState] = {}
        self._heap: list[int] = []  # distinct due instants
        self._due: dict[int, list[str]] = {}  # instant -> ids of the tasks due then
        self._locks: dict[str, asyncio.Lock] = {}
        self._firing: set[str] = set()  # tasks a burst is firing: mutations wait for it
        self._idle = asyncio.Event()  # set while no burst is in progress
        self._idle.set()
        self._retry: list[Pending] = []
        self._retry_at_ms = 0
        self._retry_delay = RETRY_MIN
        self._wake = asyncio.Event()
        self._stopping = False
        self._reload_requested = False
        self._loop_task: asyncio.Task[None] | None = None
        self._ahead: AheadPlan | None = None

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

    def request_reload(self) -> None:
        """Reload the tasks from the store at the loop's next turn: another process changed
        them (replicas sharing one database, docs/postgres.md)."""
        self._reload_requested = True
        self._wake.set()

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
        self._due.clear()
        self._ahead = None
        for task in tasks:
            state = TaskState(task, last.get(task.id), enqueued.get(task.id),
                              ready=self.enqueuer.prepare)
            self._install(state)
        self._counts_changed()

    def _install(self, state: TaskState) -> None:
        """Hold a new task (its schedule and zone parsed on construction) and queue its next
        instant."""
        self._state[state.task.id] = state
        state.advance()
        self._push(state)

    def _push(self, state: TaskState) -> None:
        if state.next_ms is not None:
            bucket = self._due.get(state.next_ms)
            if bucket is None:
                self._due[state.next_ms] = [state.task.id]
                heapq.heappush(self._heap, state.next_ms)
            else:
                bucket.append(state.task.id)
            self._wake.set()

    # -- the loop ------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wall0, mono0 = self.clock(), time.monotonic()
            try:
                if self._reload_requested:
                    self._reload_requested = False
                    await self._reload()
                await self.run_due(self.now_ms())
                await self.plan_ahead()
                if self._retry and self.now_ms() >= self._retry_at_ms:
                    await self.resend_unsettled()
            except Exception as err:
                if isinstance(err, AlreadyExists):  # another replica recorded these instants first
                    logger.info("another scheduler fired these instants first; reloading tasks")
                else:
                    logger.exception("scheduler pass failed; reloading tasks from the store")
                await asyncio.sleep(1.0)
                try:
                    await self._reload()
                except Exception:  # a store that is down (PostgreSQL): try again next turn
                    logger.exception("reloading the scheduler's tasks failed")
                    self._reload_requested = True
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
        targets = [self._heap[0]] if self._heap else []
        if targets and self._ahead_due(targets[0]):
            targets.append(targets[0] - PLAN_AHEAD_MS)
        if self._retry:
            targets.append(self._retry_at_ms)
        if not targets:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(0.0, (min(targets) - now) / 1000))

    def _is_firing(self, state: TaskState) -> bool:
        """True when ``state`` is the engine's state of a task a burst is firing."""
        task_id = state.task.id
        return task_id in self._firing and self._state.get(task_id) is state

    def _ahead_due(self, instant: int) -> bool:
        """True when the burst due at ``instant`` is large and not planned yet."""
        return (len(self._due.get(instant, ())) >= PLAN_AHEAD_TASKS
                and (self._ahead is None or self._ahead.instant != instant))

    async def plan_ahead(self) -> None:
        """Build the chunks of the next large burst once its instant is near (``AheadPlan``);
        the loop calls it after each pass, tests call it directly with a fixed clock."""
        if not self._heap:
            return
        instant = self._heap[0]
        if not self._ahead_due(instant) or instant - self.now_ms() > PLAN_AHEAD_MS:
            return
        states = [state for task_id in self._due[instant]
                  if (state := self._state.get(task_id)) is not None
                  and AheadPlan.plannable(state, instant)]
        self._ahead = AheadPlan(instant)
        await self._ahead.build(sorted(states, key=_target), self.ledger_chunk)

    async def run_due(self, now_ms: int) -> int:
        """Fire every task due at ``now_ms``; the number of ledger rows written.

        The due tasks fire as one burst (``_fire``) without taking their locks: they are
        marked as firing, and a mutation of one of them waits for the burst to end. A task
        whose lock a mutation holds right now fires after it, under its lock.
        """
        claimed: list[TaskState] = []
        contended: list[str] = []
        tasks, locks, firing = self._state, self._locks, self._firing
        while self._heap and self._heap[0] <= now_ms:
            ms = heapq.heappop(self._heap)
            for task_id in self._due.pop(ms):
                state = tasks.get(task_id)
                if state is None or state.next_ms != ms or task_id in firing:
                    continue  # a stale entry: the task changed or is gone
                lock = locks.get(task_id)
                if lock is not None and lock.locked():
                    contended.append(task_id)
                    continue
                firing.add(task_id)
                claimed.append(state)
        written = 0
        if claimed:
            self._idle.clear()
            try:
                with _gc_paused(len(claimed) >= GC_PAUSE_TASKS):
                    written += await self._fire(claimed, now_ms)
            finally:
                self._firing.difference_update(s.task.id for s in claimed)
                if not self._firing:
                    self._idle.set()
        for task_id in contended:
            async with self._locked([task_id]):
                state = self._state.get(task_id)
                written += await self._fire([state], now_ms) if state is not None else 0
        return written

    @asynccontextmanager
    async def _locked(self, task_ids: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of these tasks (in id order, so two holders never deadlock), once
        no burst is firing any of them."""
        ids = sorted(set(task_ids))
        held: list[asyncio.Lock] = []
        try:
            for task_id in ids:
                lock = self._locks.setdefault(task_id, asyncio.Lock())
                await lock.acquire()
                held.append(lock)
            while not self._firing.isdisjoint(ids):
                await self._idle.wait()
            yield
        finally:
            for lock in held:
                lock.release()

    async def _fire(self, states: Sequence[TaskState], now_ms: int) -> int:
        """Fire the due instants of these tasks (claimed by a burst, or locked by the caller)
        as a pipeline of chunks of tasks (``growing_chunks``): each chunk's ledger rows (and
        its tasks' cursors) in one ``record`` transaction, then its sends, grouped by (room,
        queue). While a chunk is recorded the next one is decided, and its record starts as
        soon as this one commits (the ledger is the pipeline's long pole); the sends run
        meanwhile. Once every send has returned: the tasks' cursors in memory, every outcome
        in one ``settle`` transaction, then the next instants. Each row is durable before its
        own send. Returns the number of ledger rows written."""
        sends: list[asyncio.Future[SendResults]] = []
        recorded: list[Burst] = []
        loop = asyncio.get_running_loop()
        next_burst = self._burst_source(states, now_ms)
        try:
            upcoming = await next_burst()
            while upcoming is not None:
                burst = upcoming
                # in the executor at once (not from a task that starts later), so the
                # transaction runs while the next chunk is decided
                recording = loop.run_in_executor(
                    None, functools.partial(self.store.record, burst.rows, burst.cursors))
                try:
                    upcoming = await next_burst()
                finally:
                    await recording  # failed: nothing of this chunk happened
                    recorded.append(burst)
                    self._note_runs(burst.skips, {})
                    if burst.pending:
                        sends.append(asyncio.ensure_future(
                            send_all(self.enqueuer, burst.pending, self.now_ms)))
        finally:  # what was recorded is sent and settled, even if a later chunk failed
            results = await asyncio.gather(*sends)
            # Book-keeping waits for the last send, so that it does not delay the sends:
            for burst in recorded:
                burst.move_cursors()
            if results:
                await self._settle(classify(results))
            await self._advance([state for burst in recorded for state in burst.states])
        return sum(len(burst.rows) for burst in recorded)

    def _burst_source(self, states: Sequence[TaskState], now_ms: int
                      ) -> Callable[[], Awaitable[Burst | None]]:
        """The bursts of a pass, one per call, None when none is left: first the chunks
        planned ahead that are still right (``AheadPlan``), then chunks of the other tasks,
        decided now."""
        taken: Taken | None = None
        ahead: Iterator[Burst] = iter(())
        if self._ahead is not None and self._ahead.instant <= now_ms:
            taken = self._ahead.take(states, self._is_firing, now_ms, self.grace_ms)
            ahead = taken.bursts()
            self._ahead = None
        chunks: Iterator[Sequence[TaskState]] | None = None
        missed: dict[str, list[Decision]] = {}

        async def next_burst() -> Burst | None:
            nonlocal chunks, missed
            burst = next(ahead, None)
            if burst is not None:
                return burst
            if chunks is None:
                left = taken.rest() if taken is not None else states
                missed = await self._enumerate_missed(left, now_ms)
                # by target, so a chunk's sends are few calls (one per queue it reaches)
                ordered = sorted(left, key=_target) if len(left) > self.ledger_chunk else left
                chunks = iter(growing_chunks(ordered, self.ledger_chunk))
            return await self._next_burst(chunks, missed, now_ms)

        return next_burst

    async def _enumerate_missed(self, states: Sequence[TaskState], now_ms: int
                                ) -> dict[str, list[Decision]]:
        """The decisions of tasks with missed instants to enumerate (catch-up): CPU work,
        off the event loop."""
        grace = self.grace_ms
        slow = [s for s in states if needs_enumeration(s, now_ms, grace)]
        if not slow:
            return {}
        return dict(await asyncio.to_thread(
            lambda: [(s.task.id, decide(s, now_ms, grace)) for s in slow]))

    async def _next_burst(self, chunks: Iterator[Sequence[TaskState]],
                          missed: dict[str, list[Decision]], now_ms: int) -> Burst | None:
        """The rows and sends of the next chunk with something due; None when none is left."""
        for part in chunks:
            planned = [(state, decisions) for state in part
                       if (decisions := missed[state.task.id] if state.task.id in missed
                           else decide(state, now_ms, self.grace_ms))]
            if not planned:
                continue
            await check_pending(self.enqueuer, planned)
            burst = Burst(now_ms)
            for state, decisions in planned:
                burst.add(state, decisions)
            return burst
        return None

    async def _advance(self, states: Sequence[TaskState]) -> None:
        """Compute each task's next instant (cached per schedule, zone and instant) and put it
        back on the heap; yield now and then, for a large burst is CPU work."""
        for index, state in enumerate(states):
            if state.task.id not in self._state:
                continue  # deleted meanwhile
            state.advance()
            self._push(state)
            if index % 1000 == 999:
                await asyncio.sleep(0)

    async def _send_and_settle(self, pending: Sequence[Pending]) -> Settled:
        """Send SENDING rows, write their outcomes, deactivate fired ``once`` tasks."""
        return await self._settle(classify([await send_all(self.enqueuer, pending, self.now_ms)]))

    async def _settle(self, settled: Settled) -> Settled:
        deactivate = [r.task_id for r in settled.runs if r.outcome is RunOutcome.ENQUEUED
                      and r.task_id in self._state and self._state[r.task_id].task.spec.once
                      and not r.manual]
        for task_id in dict.fromkeys(settled.room_gone):
            state = self._state.get(task_id)
            if state is not None and state.task.spec.active:
                logger.warning("task %s deactivated: room %r no longer exists", task_id,
                               state.task.spec.room)
                deactivate.append(task_id)
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
        now = self.now_ms()
        spec = await asyncio.to_thread(self._validated, spec, now)
        if not await self.enqueuer.room_exists(spec.room):
            raise NotFound(f"room {spec.room!r} does not exist: create it first")
        held = sum(1 for s in self._state.values() if s.task.spec.room == spec.room)
        if held >= self.max_tasks_per_room:
            raise ResourceExhausted(f"room {spec.room!r} holds {held} scheduled tasks, the "
                                    "limit; delete one first")
        task = Task(id=uuid.uuid4().hex, spec=spec, created_at_ms=now, cursor_ms=now)
        await asyncio.to_thread(self.store.add_task, task)
        self._install(TaskState(task, None, None, ready=self.enqueuer.prepare))
        self._counts_changed()
        return self._view(self._state[task.id])

    def _validated(self, spec: TaskSpec, now_ms: int) -> TaskSpec:
        return check_task(spec, self.enqueuer.max_message_bytes(), now_ms)

    def check_room_deletable(self, room: str) -> None:
        """FailedPrecondition while scheduled tasks target ``room``: DeleteRoom (even with
        force) is refused until they are deleted, so no task fires into a re-created room."""
        ids = [s.task.id for s in self._state.values() if s.task.spec.room == room]
        if ids:
            raise FailedPrecondition(
                f"room {room!r} has {len(ids)} scheduled tasks (e.g. {ids[0]}); delete them first "
                f"(meshq scheduled-task list --room {room})")

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
            now = self.now_ms()
            spec = await asyncio.to_thread(
                lambda: self._validated(apply_update(state.task.spec, update), now))
            try:
                await self._fire([state], now)
            except AlreadyExists:  # replicas share the ledger: another one fired them first
                logger.info("task %s: due instants were fired by another replica", task_id)
            timing = any(getattr(spec, f) != getattr(state.task.spec, f)
                         for f in ("schedule", "timezone", "active", "once"))
            cursor = max(state.task.cursor_ms, now) if timing else state.task.cursor_ms
            task = dataclasses.replace(state.task, spec=spec, cursor_ms=cursor)
            await asyncio.to_thread(self.store.put_task, task)
            state.task = task
            state.restart()
            self._push(state)
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
            raise NotFound(unknown_task(task_id))
        return state

    def _view(self, state: TaskState) -> TaskView:
        spec = state.task.spec
        nxt = state.next_ms if spec.active else None
        return TaskView(task=state.task, next_fire_ms=nxt or 0, last_run=state.last_run)

    def _counts_changed(self) -> None:
        active = sum(1 for s in self._state.values() if s.task.spec.active)
        self.observer.tasks_changed(active, len(self._state) - active)
