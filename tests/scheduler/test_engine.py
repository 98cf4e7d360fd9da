"""The engine with injected time over a real in-process queue engine: fires, misfires,
skips, deletes and crashes. No test sleeps: each drives ``run_due`` at fixed instants."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from meshq.core.errors import InvalidArgument, NotFound
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.scheduler import cron
from meshq.scheduler.model import MisfirePolicy, RunOutcome, TaskSpec, TaskUpdate

from .conftest import Crash, FakeClock, GatedEnqueuer, new_engine

T0 = datetime.fromisoformat("2024-05-01T12:00:30+00:00").timestamp()  # 30 s past a minute
MINUTE = 60.0


def spec(room: str, queue: str, **kwargs: object) -> TaskSpec:
    values: dict[str, object] = dict(room=room, queue=queue, schedule="* * * * *", payload_json='{"n": 1}')
    values.update(kwargs)
    return TaskSpec(**values)  # type: ignore[arg-type]


def minute(k: int) -> int:
    """The k-th whole minute after T0, in ms."""
    return int((T0 - 30 + k * MINUTE) * 1000)


def depth(queues: QueueEngine, room: str, queue: str) -> int:
    try:
        info = queues.registry.queue_info(room, queue)
    except NotFound:
        return 0
    return info.depth + info.in_flight + info.delayed


async def test_on_time_fire_enqueues_once_with_headers(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "digest"))
    assert view.next_fire_ms == minute(1)
    # When the clock reaches the instant (plus a little), Then one message is enqueued
    clock.t = minute(1) / 1000 + 0.2
    assert await engine.run_due(engine.now_ms()) == 1
    assert await engine.run_due(engine.now_ms()) == 0
    [msg] = await queues.peek(room, "digest", 10)
    assert msg.body == '{"n": 1}'
    assert msg.headers["x-meshq-task-id"] == view.task.id
    assert msg.headers["x-meshq-scheduled-at"] == cron.iso_ms(minute(1))
    [run] = await engine.runs(view.task.id)
    assert (run.outcome, run.message_id, run.scheduled_ms) == (RunOutcome.ENQUEUED, msg.message_id, minute(1))
    assert engine.get_task(view.task.id).next_fire_ms == minute(2)


@pytest.mark.parametrize(
    ("policy", "cap", "expected"),
    [(MisfirePolicy.SKIP, 100, 0), (MisfirePolicy.LATEST, 100, 1), (MisfirePolicy.ALL, 3, 3),
     (MisfirePolicy.ALL, 100, 7)],
)
async def test_down_for_n_intervals(queues: QueueEngine, room: str, make_store, policy: MisfirePolicy,  # type: ignore[no-untyped-def]
                                    cap: int, expected: int) -> None:
    # Given a minutely task, When the scheduler is down for 7 intervals and comes back
    store = make_store()
    clock = FakeClock(T0)
    first = await new_engine(store, GatedEnqueuer(queues), clock)
    view = await first.add_task(spec(room, "q", misfire_policy=policy, misfire_cap=cap))
    await first.stop()
    clock.t = T0 + 7 * MINUTE  # 30 s after the 7th instant: every one of them is missed
    engine = await new_engine(store, GatedEnqueuer(queues), clock)
    await engine.run_due(engine.now_ms())
    # Then 0 / 1 / min(cap, 7) are enqueued, and all 7 instants are in the ledger
    runs = await engine.runs(view.task.id)
    assert sorted(r.scheduled_ms for r in runs) == [minute(k) for k in range(1, 8)]
    enqueued = sorted(r.scheduled_ms for r in runs if r.outcome is RunOutcome.ENQUEUED)
    assert enqueued == [minute(k) for k in range(8 - expected, 8)]
    assert all(r.outcome is RunOutcome.SKIPPED_MISFIRE for r in runs if r.scheduled_ms not in enqueued)
    assert depth(queues, room, "q") == expected


async def test_catchup_window_bounds_the_policy(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    clock = FakeClock(T0)
    engine = await new_engine(store, GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q", misfire_policy=MisfirePolicy.ALL,
                                      catchup_window_seconds=200))
    clock.t = T0 + 7 * MINUTE
    await engine.run_due(engine.now_ms())
    runs = await engine.runs(view.task.id)
    enqueued = sorted(r.scheduled_ms for r in runs if r.outcome is RunOutcome.ENQUEUED)
    assert enqueued == [minute(5), minute(6), minute(7)]  # 150 s, 90 s, 30 s old
    assert len(runs) == 7


@pytest.mark.parametrize("crash", ["before", "after"])
async def test_crash_around_the_send_is_repaired_exactly_once(queues: QueueEngine, room: str,  # type: ignore[no-untyped-def]
                                                               make_store, crash: str) -> None:
    # Given a fire whose ledger row is written, When the process dies before / after the send
    store = make_store()
    clock = FakeClock(T0)
    gated = GatedEnqueuer(queues)
    setattr(gated, f"crash_{crash}", True)
    engine = await new_engine(store, gated, clock)
    view = await engine.add_task(spec(room, "q"))
    clock.t = minute(1) / 1000 + 0.1
    with pytest.raises(Crash):
        await engine.run_due(engine.now_ms())
    assert [r.outcome for r in store.runs(view.task.id, 10)] == [RunOutcome.SENDING]
    # Then a new engine over the same store re-sends with the same dedup id: one message
    clock.t += 3
    again = await new_engine(store, GatedEnqueuer(queues), clock)
    [run] = await again.runs(view.task.id)
    assert run.outcome is RunOutcome.ENQUEUED
    [msg] = await queues.peek(room, "q", 10)
    assert msg.message_id == run.message_id
    clock.t = minute(2) / 1000 + 0.1
    await again.run_due(again.now_ms())
    assert depth(queues, room, "q") == 2


async def test_a_repair_after_an_outage_longer_than_the_queue_dedup_window_enqueues_once(
        make_store) -> None:  # type: ignore[no-untyped-def]
    # Given a queue engine on the test's clock (its own dedup window: the default 300 s)
    clock = FakeClock(T0)
    queues = QueueEngine(MemoryQueueStore(), clock=clock)
    await queues.start()
    try:
        room = "r-" + uuid.uuid4().hex[:10]
        await queues.create_room(room)
        # And a fire whose message was enqueued but whose ledger row was never settled
        store = make_store()
        gated = GatedEnqueuer(queues)
        gated.crash_after = True
        engine = await new_engine(store, gated, clock)
        view = await engine.add_task(spec(room, "q"))
        clock.t = minute(1) / 1000 + 0.1
        with pytest.raises(Crash):
            await engine.run_due(engine.now_ms())
        # When the scheduler comes back six hours later (far past 300 s) and repairs the row
        clock.t += 6 * 3600
        again = await new_engine(store, GatedEnqueuer(queues), clock)
        # Then the fire's own dedup lifetime still finds the first message: one message
        [run] = [r for r in await again.runs(view.task.id) if r.scheduled_ms == minute(1)]
        assert run.outcome is RunOutcome.ENQUEUED
        [msg] = [m for m in await queues.peek(room, "q", 100)
                 if m.headers["x-meshq-scheduled-at"] == cron.iso_ms(minute(1))]
        assert msg.message_id == run.message_id
    finally:
        await queues.close()


async def test_no_enqueue_after_delete_returns(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    gated = GatedEnqueuer(queues)
    engine = await new_engine(make_store(), gated, clock)
    view = await engine.add_task(spec(room, "q"))
    # Given a fire whose send is in progress
    gated.release.clear()
    clock.t = minute(1) / 1000 + 0.1
    fire = asyncio.create_task(engine.run_due(engine.now_ms()))
    await gated.entered.wait()
    # When DeleteTask is called, Then it waits for the fire, and after it returns nothing fires
    delete = asyncio.create_task(engine.delete_task(view.task.id))
    await asyncio.sleep(0)
    assert not delete.done()
    gated.release.set()
    await asyncio.gather(fire, delete)
    count = depth(queues, room, "q")
    assert count == 1
    for k in range(2, 6):
        clock.t = minute(k) / 1000 + 0.1
        await engine.run_due(engine.now_ms())
    assert depth(queues, room, "q") == count
    with pytest.raises(NotFound, match="task_id"):
        engine.get_task(view.task.id)


async def test_no_enqueue_after_deactivating_update_returns(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    gated = GatedEnqueuer(queues)
    engine = await new_engine(make_store(), gated, clock)
    view = await engine.add_task(spec(room, "q"))
    gated.release.clear()
    clock.t = minute(1) / 1000 + 0.1
    fire = asyncio.create_task(engine.run_due(engine.now_ms()))
    await gated.entered.wait()
    update = asyncio.create_task(engine.update_task(view.task.id, TaskUpdate(active=False)))
    await asyncio.sleep(0)
    assert not update.done()
    gated.release.set()
    await asyncio.gather(fire, update)
    for k in range(2, 5):
        clock.t = minute(k) / 1000 + 0.1
        await engine.run_due(engine.now_ms())
    assert depth(queues, room, "q") == 1
    outcomes = [r.outcome for r in await engine.runs(view.task.id)]
    assert outcomes == [RunOutcome.SKIPPED_INACTIVE] * 3 + [RunOutcome.ENQUEUED]


async def test_once_fires_once_then_is_inactive(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q", once=True))
    for k in range(1, 4):
        clock.t = minute(k) / 1000 + 0.1
        await engine.run_due(engine.now_ms())
    assert depth(queues, room, "q") == 1
    after = engine.get_task(view.task.id)
    assert after.task.spec.active is False and after.next_fire_ms == 0


async def test_skip_if_pending(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q", skip_if_pending=True))
    clock.t = minute(1) / 1000 + 0.1
    await engine.run_due(engine.now_ms())
    # When the previous message is still queued, Then the next instant is skipped
    clock.t = minute(2) / 1000 + 0.1
    await engine.run_due(engine.now_ms())
    assert depth(queues, room, "q") == 1
    # When a worker took and acked it, Then the next instant enqueues again
    [delivery] = await queues.receive(room, "q")
    await queues.ack(room, "q", [delivery.lease_token])
    clock.t = minute(3) / 1000 + 0.1
    await engine.run_due(engine.now_ms())
    outcomes = [r.outcome for r in await engine.runs(view.task.id)]
    assert outcomes == [RunOutcome.ENQUEUED, RunOutcome.SKIPPED_PENDING, RunOutcome.ENQUEUED]


async def test_trigger_and_jitter(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q", jitter_seconds=600, active=False))
    run = await engine.trigger_task(view.task.id)
    assert run.manual and run.outcome is RunOutcome.ENQUEUED
    state, _ = await queues.message_state(room, "q", run.message_id)
    assert state.value == "delayed"  # jitter delays the message by up to 600 s
    again = await engine.trigger_task(view.task.id)
    assert again.scheduled_ms == run.scheduled_ms + 1  # same ms: the ledger key moves on
    assert depth(queues, room, "q") == 2


async def test_failed_enqueue_is_recorded(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q"))
    await queues.open_queue(room, "q")
    await queues.close_queue(room, "q")
    clock.t = minute(1) / 1000 + 0.1
    await engine.run_due(engine.now_ms())
    [run] = await engine.runs(view.task.id)
    assert run.outcome is RunOutcome.FAILED and run.error


async def test_unavailable_queue_service_is_retried_with_the_same_dedup_id(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    from meshq.core.errors import Unavailable

    clock = FakeClock(T0)
    gated = GatedEnqueuer(queues)
    engine = await new_engine(make_store(), gated, clock)
    view = await engine.add_task(spec(room, "q"))
    gated.fail_next = Unavailable("down")
    clock.t = minute(1) / 1000 + 0.1
    await engine.run_due(engine.now_ms())
    assert [r.outcome for r in await engine.runs(view.task.id)] == [RunOutcome.SENDING]
    await engine.resend_unsettled()
    assert [r.outcome for r in await engine.runs(view.task.id)] == [RunOutcome.ENQUEUED]
    assert depth(queues, room, "q") == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"schedule": "0 0 31 2 *"}, "schedule"), ({"schedule": "61 * * * *"}, "minute"),
     ({"timezone": "Mars/Base"}, "timezone"), ({"payload_json": "{nope"}, "payload"),
     ({"queue": "bad name!"}, "queue"), ({"room": "no-such-room"}, "room"),
     ({"misfire_cap": 0}, "misfire_cap"), ({"jitter_seconds": -1.0}, "jitter")],
)
async def test_bad_input_names_the_field_and_stores_nothing(queues: QueueEngine, room: str, make_store,  # type: ignore[no-untyped-def]
                                                            change: dict[str, object], field: str) -> None:
    clock = FakeClock(T0)
    store = make_store()
    engine = await new_engine(store, GatedEnqueuer(queues), clock)
    good = await engine.add_task(spec(room, "q"))
    values: dict[str, object] = dict(room=room, queue="q", schedule="* * * * *", payload_json="{}")
    values.update(change)
    with pytest.raises((InvalidArgument, NotFound)) as err:
        await engine.add_task(TaskSpec(**values))  # type: ignore[arg-type]
    assert field in str(err.value)
    if "room" not in change:
        with pytest.raises((InvalidArgument, NotFound)):
            await engine.update_task(good.task.id, TaskUpdate(**change))  # type: ignore[arg-type]
    assert store.list_tasks() == [good.task]


async def test_update_schedule_takes_effect_from_now(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q", schedule="0 18 * * *"))
    updated = await engine.update_task(view.task.id, TaskUpdate(schedule="*/5 * * * *", payload_json="[2]"))
    assert updated.task.spec.schedule == "*/5 * * * *"
    assert updated.next_fire_ms == minute(5)
    assert updated.task.spec.payload_json == "[2]" and updated.task.spec.room == room


async def test_fall_back_night_fires_once(queues: QueueEngine, room: str, make_store) -> None:  # type: ignore[no-untyped-def]
    start = datetime.fromisoformat("2024-11-02T12:00:00+00:00").timestamp()
    clock = FakeClock(start)
    engine = await new_engine(make_store(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(spec(room, "q", schedule="30 1 * * *", timezone="America/New_York"))
    # When the clock walks through the night in 10-minute steps, firing what is due
    while clock.t < start + 2 * 86_400:
        clock.t += 600
        await engine.run_due(engine.now_ms())
    runs = await engine.runs(view.task.id)
    assert [cron.iso_ms(r.scheduled_ms) for r in reversed(runs)] == [
        "2024-11-03T05:30:00.000Z", "2024-11-04T06:30:00.000Z"]
    assert all(r.outcome is RunOutcome.ENQUEUED for r in runs)


async def test_loop_fires_on_its_own(queues: QueueEngine, room: str) -> None:
    from meshq.scheduler.engine import SchedulerEngine
    from meshq.scheduler.memory_store import MemoryScheduleStore
    from meshq.scheduler.observer import SchedulerObserver

    class Seen(SchedulerObserver):
        def __init__(self) -> None:
            self.lags: list[float] = []
            self.two = asyncio.Event()

        def fired(self, room: str, queue: str, task_id: str, outcome: str, lag_seconds: float | None) -> None:
            if lag_seconds is not None:
                self.lags.append(lag_seconds)
            if len(self.lags) >= 2:
                self.two.set()

    seen = Seen()
    engine = SchedulerEngine(MemoryScheduleStore(), GatedEnqueuer(queues), observer=seen)
    await engine.start()
    try:
        await engine.add_task(spec(room, "q" + uuid.uuid4().hex[:6], schedule="* * * * * *"))
        await asyncio.wait_for(seen.two.wait(), timeout=10)
    finally:
        await engine.stop()
    assert all(0 <= lag < 1.0 for lag in seen.lags), seen.lags
