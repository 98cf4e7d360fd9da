"""A due burst is one pipeline: ledger transactions of about 1000 rows, each chunk's sends
(batched per (room, queue)) started once its rows are durable while the next chunk is
recorded, one settle transaction; mutations still exclude fires."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from meshq.queue.engine import QueueEngine
from meshq.scheduler.enqueuer import EngineEnqueuer, Outgoing
from meshq.scheduler.model import RunOutcome, Task, TaskUpdate
from meshq.scheduler.validate import check_spec

from .conftest import FakeClock, GatedEnqueuer, new_engine
from .test_engine import T0, depth, minute, spec


def counted(calls: list[int], method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(rows: Sequence[object], *args: object) -> Any:
        calls.append(len(rows))
        return method(rows, *args)
    return wrapper


class RecordingEnqueuer(GatedEnqueuer):
    """Records each send, and checks that every message's ledger row is stored before it."""

    def __init__(self, engine: QueueEngine, store: Any = None) -> None:
        super().__init__(engine)
        self.calls: list[tuple[str, int]] = []
        self.store = store
        self.unrecorded = 0

    async def send_many(self, room: str, queue: str, messages: Sequence[Outgoing]) -> list[str]:
        self.calls.append((queue, len(messages)))
        if self.store is not None:
            self.unrecorded += sum(not self.store.has_run(m.headers["x-meshq-task-id"], minute(1))
                                   for m in messages)
        return await super().send_many(room, queue, messages)


async def test_burst_records_in_chunks_each_before_its_sends_and_settles_once(queues: QueueEngine, room: str,  # type: ignore[no-untyped-def]
                                                            make_store) -> None:
    store = make_store()
    created = int(T0 * 1000)
    tasks = [Task(id=uuid.uuid4().hex, spec=check_spec(spec(room, f"q{i % 2}", payload_json=str(i))),
                  created_at_ms=created, cursor_ms=created) for i in range(2500)]
    store.add_tasks(tasks)
    records: list[int] = []
    settles: list[int] = []
    store.record = counted(records, store.record)
    store.settle = counted(settles, store.settle)
    enqueuer = RecordingEnqueuer(queues, store)
    clock = FakeClock(T0)
    engine = await new_engine(store, enqueuer, clock)
    clock.t = minute(1) / 1000 + 0.2
    assert await engine.run_due(engine.now_ms()) == 2500
    assert records == [500, 1000, 1000] and settles == [2500]
    # chunks ordered by target, so each sends to as few queues as it can: 500 of q0; 750 of
    # q0 and 250 of q1; 1000 of q1
    assert sorted(enqueuer.calls) == [("q0", 500), ("q0", 750), ("q1", 250), ("q1", 1000)]
    assert enqueuer.unrecorded == 0, "a message was sent before its ledger row was durable"
    assert depth(queues, room, "q0") == depth(queues, room, "q1") == 1250
    bodies = Counter([d.body for q in ("q0", "q1") for d in await queues.peek(room, q, 1000)])
    assert len(bodies) == 2000 and set(bodies.values()) == {1}
    for task in tasks[:3] + tasks[-3:]:
        [run] = store.runs(task.id, 10)
        assert run.outcome is RunOutcome.ENQUEUED and run.scheduled_ms == minute(1)
        assert engine.get_task(task.id).next_fire_ms == minute(2)


async def test_task_held_by_a_mutation_fires_after_it(queues: QueueEngine, room: str,  # type: ignore[no-untyped-def]
                                                      make_store) -> None:
    clock = FakeClock(T0)
    gated = GatedEnqueuer(queues)
    engine = await new_engine(make_store(), gated, clock)
    held = await engine.add_task(spec(room, "held"))
    await engine.add_task(spec(room, "free"))
    # Given a trigger of one task whose send is in progress (it holds the task's lock)
    gated.release.clear()
    clock.t = minute(1) / 1000 + 0.1
    trigger = asyncio.create_task(engine.trigger_task(held.task.id))
    await gated.entered.wait()
    # When both tasks come due, Then the free one fires in the burst, the held one after
    fire = asyncio.create_task(engine.run_due(engine.now_ms()))
    await asyncio.sleep(0)
    assert not fire.done()
    gated.release.set()
    await asyncio.gather(trigger, fire)
    assert depth(queues, room, "held") == 2 and depth(queues, room, "free") == 1
    runs = await engine.runs(held.task.id)
    assert sorted((r.manual, r.outcome) for r in runs) == [(False, RunOutcome.ENQUEUED),
                                                           (True, RunOutcome.ENQUEUED)]
    assert engine.get_task(held.task.id).next_fire_ms == minute(2)


async def test_delete_during_a_burst_waits_and_stops_only_that_task(queues: QueueEngine, room: str,  # type: ignore[no-untyped-def]
                                                                    make_store) -> None:
    clock = FakeClock(T0)
    gated = GatedEnqueuer(queues)
    engine = await new_engine(make_store(), gated, clock)
    views = [await engine.add_task(spec(room, f"q{i}")) for i in range(3)]
    gated.release.clear()
    clock.t = minute(1) / 1000 + 0.1
    fire = asyncio.create_task(engine.run_due(engine.now_ms()))
    await gated.entered.wait()
    delete = asyncio.create_task(engine.delete_task(views[1].task.id))
    await asyncio.sleep(0)
    assert not delete.done()
    gated.release.set()
    await asyncio.gather(fire, delete)
    for k in (2, 3):
        clock.t = minute(k) / 1000 + 0.1
        await engine.run_due(engine.now_ms())
    assert [depth(queues, room, f"q{i}") for i in range(3)] == [3, 1, 3]


async def test_fires_send_messages_validated_ahead_of_their_instant(  # type: ignore[no-untyped-def]
        queues: QueueEngine, room: str, make_store) -> None:
    """The queue validates each fire's message when the scheduler builds it (with the next
    instant), so the burst at the instant sends without validating again."""
    counts: Counter[str] = Counter()

    def spy(name: str) -> None:
        method = getattr(queues, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return method(*args, **kwargs)
        setattr(queues, name, wrapper)

    for name in ("check_messages", "send_checked", "send_fields"):
        spy(name)
    store = make_store()
    created = int(T0 * 1000)
    store.add_tasks([Task(id=uuid.uuid4().hex, spec=check_spec(spec(room, "q", payload_json=str(i))),
                          created_at_ms=created, cursor_ms=created) for i in range(30)])
    clock = FakeClock(T0)
    # Given 30 tasks loaded: each next instant's message is built and validated now
    engine = await new_engine(store, EngineEnqueuer(queues), clock)
    assert counts == {"check_messages": 30}
    # When the instant comes
    clock.t = minute(1) / 1000 + 0.2
    assert await engine.run_due(engine.now_ms()) == 30
    # Then one send took them as validated, and the next instants' messages were built
    assert counts == {"check_messages": 60, "send_checked": 1}
    assert sorted(int(d.body) for d in await queues.peek(room, "q", 100)) == list(range(30))


async def test_a_burst_planned_ahead_fires_what_changed_since_as_it_is_now(  # type: ignore[no-untyped-def]
        queues: QueueEngine, room: str, make_store) -> None:
    """A large burst's chunks are built before its instant; a chunk whose tasks changed in
    between is built again at the instant, and every fire follows the task as it is then."""
    store = make_store()
    created = int(T0 * 1000)
    tasks = [Task(id=f"t{i:05d}", spec=check_spec(spec(room, f"q{i // 1250}", payload_json=str(i))),
                  created_at_ms=created, cursor_ms=created) for i in range(2500)]
    store.add_tasks(tasks)
    records: list[int] = []
    store.record = counted(records, store.record)
    clock = FakeClock(T0)
    engine = await new_engine(store, RecordingEnqueuer(queues), clock)
    # Given the burst planned 0.2 s before its instant: chunks t00000-t00499, then 1000, 1000
    clock.t = minute(1) / 1000 - 0.2
    await engine.plan_ahead()
    # When, after that, one task of the first chunk is deleted, one updated, one paused
    await engine.delete_task("t00007")
    await engine.update_task("t00008", TaskUpdate(payload_json='"new"'))
    await engine.update_task("t00009", TaskUpdate(active=False))
    clock.t = minute(1) / 1000 + 0.1
    assert await engine.run_due(engine.now_ms()) == 2499
    # Then the two unchanged planned chunks are recorded first, the changed one after
    assert records == [1000, 1000, 499]
    bodies = Counter([d.body for q in ("q0", "q1") for _ in range(2)
                      for d in await queues.receive(room, q, max_messages=1000, auto_ack=True)])
    assert bodies['"new"'] == 1 and "8" not in bodies and "7" not in bodies and "9" not in bodies
    assert len(bodies) == 2498 and set(bodies.values()) == {1}
    [paused] = store.runs("t00009", 10)
    assert paused.outcome is RunOutcome.SKIPPED_INACTIVE
    assert engine.get_task("t00010").next_fire_ms == minute(2)


async def test_a_plan_is_dropped_when_its_instant_is_no_longer_on_time(  # type: ignore[no-untyped-def]
        queues: QueueEngine, room: str, make_store) -> None:
    """Planned fires are on-time fires: a pass later than the misfire grace decides anew."""
    store = make_store()
    created = int(T0 * 1000)
    store.add_tasks([Task(id=f"t{i:05d}", spec=check_spec(spec(room, "q", payload_json=str(i))),
                          created_at_ms=created, cursor_ms=created) for i in range(1200)])
    records: list[int] = []
    store.record = counted(records, store.record)
    clock = FakeClock(T0)
    engine = await new_engine(store, RecordingEnqueuer(queues), clock, misfire_grace_seconds=1.0)
    clock.t = minute(1) / 1000 - 0.2
    await engine.plan_ahead()
    clock.t = minute(1) / 1000 + 2.0  # past the grace: a misfire, decided by its policy now
    await engine.run_due(engine.now_ms())
    assert records == [500, 700]
    assert {r.outcome for t in ("t00000", "t01199") for r in store.runs(t, 10)} == {
        RunOutcome.SKIPPED_MISFIRE}
