"""Hardening of scheduled tasks (issue 11.5, 11.14): JSON text only, payloads that fit the
queue, a per-room task limit, and DeleteRoom refused while a room has tasks."""

from __future__ import annotations

import grpc
import pytest

from meshq.api.rooms import RoomsClient
from meshq.api.scheduler import SchedulerClient
from meshq.core.errors import InvalidArgument, ResourceExhausted
from meshq.queue.engine import QueueEngine
from meshq.queue.memory_store import MemoryQueueStore
from meshq.queue.model import QueueLimits
from meshq.scheduler.memory_store import MemoryScheduleStore
from meshq.scheduler.model import TaskSpec, TaskUpdate

from .conftest import FakeClock, GatedEnqueuer, new_engine

T0 = 1_777_777_777.0


@pytest.fixture
async def rooms(server):  # type: ignore[no-untyped-def]
    conn = server.connection()
    yield RoomsClient(conn)
    await conn.close()


@pytest.mark.parametrize("payload", ["NaN", "Infinity", "-Infinity", '{"a": -Infinity}',
                                     '[1, NaN]'])
async def test_payloads_that_are_not_rfc_8259_json_are_refused(
        client: SchedulerClient, rooms: RoomsClient, unique: str, payload: str) -> None:
    await rooms.create(unique)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.add(room=unique, queue="q", schedule="0 0 1 1 *", payload_json=payload)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RFC 8259" in (err.value.details() or "")
    task = await client.add(room=unique, queue="q", schedule="0 0 1 1 *", payload_json='{"a": 1e5}')
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.update(task.id, payload_json=payload)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await client.get(task.id)).spec.payload_json == '{"a": 1e5}'


async def test_delete_room_is_refused_while_it_has_scheduled_tasks(
        client: SchedulerClient, rooms: RoomsClient, unique: str) -> None:
    # Given a room with a queue and a scheduled task
    await rooms.create(unique)
    task = await client.add(room=unique, queue="q", schedule="* * * * * *", active=False)
    # When it is deleted, even with force, Then it is refused naming the task, and stays
    for force in (False, True):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await rooms.delete(unique, force=force)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "1 scheduled tasks" in (err.value.details() or "") and task.id in (err.value.details() or "")
    assert [t.id for t in await client.list(room=unique)] == [task.id]
    # And once the task is deleted, the room can be
    await client.delete(task.id)
    await rooms.delete(unique, force=True)
    assert unique not in {r.name for r in await rooms.list()}


async def test_a_payload_larger_than_the_queue_message_limit_is_refused(room: str) -> None:
    # Given queues that take messages of up to 2,000 bytes
    queues = QueueEngine(MemoryQueueStore(), limits=QueueLimits(max_message_bytes=2000))
    await queues.start()
    try:
        await queues.create_room(room)
        engine = await new_engine(MemoryScheduleStore(), GatedEnqueuer(queues), FakeClock(T0))
        big = '"' + "x" * 1600 + '"'
        # When a task's payload leaves no room for the fire's headers, Then it is refused
        with pytest.raises(InvalidArgument, match="takes messages up to 2000 bytes"):
            await engine.add_task(TaskSpec(room=room, queue="q", schedule="* * * * *", payload_json=big))
        view = await engine.add_task(TaskSpec(room=room, queue="q", schedule="* * * * *",
                                              payload_json='"small"'))
        with pytest.raises(InvalidArgument, match="takes messages up to 2000 bytes"):
            await engine.update_task(view.task.id, TaskUpdate(payload_json=big))
        # And a payload that fits fires
        fits = '"' + "x" * 1000 + '"'
        await engine.update_task(view.task.id, TaskUpdate(payload_json=fits))
        run = await engine.trigger_task(view.task.id)
        assert run.outcome.value == "enqueued", run.error
    finally:
        await queues.close()


async def test_a_room_holds_at_most_its_limit_of_tasks(queues: QueueEngine, room: str) -> None:
    engine = await new_engine(MemoryScheduleStore(), GatedEnqueuer(queues), FakeClock(T0),
                              max_tasks_per_room=3)
    for _ in range(3):
        await engine.add_task(TaskSpec(room=room, queue="q", schedule="* * * * * *"))
    with pytest.raises(ResourceExhausted, match="holds 3 scheduled tasks, the limit"):
        await engine.add_task(TaskSpec(room=room, queue="q", schedule="* * * * * *"))
    assert len(engine.list_tasks(room)) == 3


async def test_a_huge_task_id_answers_not_found_with_the_id_cut_short(
        client: SchedulerClient) -> None:
    huge = "x" * 20_000
    for call in (client.get(huge), client.delete(huge), client.trigger(huge), client.runs(huge)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert len(err.value.details() or "") < 200


async def test_a_task_whose_room_was_deleted_elsewhere_is_deactivated_not_refired(
        queues: QueueEngine, room: str) -> None:
    """A scheduler running apart from the queues is not asked by DeleteRoom: its first fire
    into the deleted room fails and deactivates the task."""
    clock = FakeClock(T0)
    engine = await new_engine(MemoryScheduleStore(), GatedEnqueuer(queues), clock)
    view = await engine.add_task(TaskSpec(room=room, queue="q", schedule="* * * * *"))
    # Given the room deleted behind the scheduler's back
    await queues.delete_room(room, force=True)
    # When the task comes due, Then the fire fails and the task becomes inactive
    clock.t = view.next_fire_ms / 1000 + 0.1
    await engine.run_due(engine.now_ms())
    [run] = await engine.runs(view.task.id)
    assert run.outcome.value == "failed" and "does not exist" in run.error
    assert not engine.get_task(view.task.id).task.spec.active
    # And once the room is re-created, nothing is enqueued into it
    await queues.create_room(room)
    clock.t += 60
    await engine.run_due(engine.now_ms())
    assert [r.outcome.value for r in await engine.runs(view.task.id)] == ["skipped_inactive", "failed"]
    assert await queues.list_queues(room) == []


async def test_a_stored_task_with_a_schedule_now_refused_loads_and_can_be_fixed(
        queues: QueueEngine, room: str) -> None:
    # Given a task stored by an earlier version that accepted a wrap-around range
    from meshq.scheduler.model import Task

    store = MemoryScheduleStore()
    old = TaskSpec(room=room, queue="q", schedule="0 22-2 * * *")
    store.add_task(Task(id="old-task", spec=old, created_at_ms=int(T0 * 1000),
                        cursor_ms=int(T0 * 1000)))
    # When the engine starts, Then the task is there, with no next instant, and never fires
    clock = FakeClock(T0)
    engine = await new_engine(store, GatedEnqueuer(queues), clock)
    assert engine.get_task("old-task").next_fire_ms == 0
    clock.t += 86_400
    assert await engine.run_due(engine.now_ms()) == 0
    # And an update with a valid schedule makes it fire again
    view = await engine.update_task("old-task", TaskUpdate(schedule="0 22-23,0-2 * * *"))
    assert view.next_fire_ms > 0
