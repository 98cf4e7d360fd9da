"""One contract for both ScheduleStores: the memory one can never drift from SQLite."""

from __future__ import annotations

import dataclasses

import pytest

from meshq.core.errors import AlreadyExists, NotFound
from meshq.scheduler.model import MisfirePolicy, RunOutcome, Task, TaskRun, TaskSpec


def task(task_id: str = "t1", created: int = 1000) -> Task:
    spec = TaskSpec(room="r", queue="q", schedule="* * * * *", timezone="Europe/Berlin",
                    payload_json='{"a": 1}', annotations={"k": "v"}, misfire_policy=MisfirePolicy.ALL,
                    misfire_cap=7, jitter_seconds=1.5, skip_if_pending=True, once=True, name="n")
    return Task(id=task_id, spec=spec, created_at_ms=created, cursor_ms=created)


def run(ms: int, outcome: RunOutcome = RunOutcome.SENDING, task_id: str = "t1") -> TaskRun:
    return TaskRun(task_id=task_id, scheduled_ms=ms, fired_at_ms=ms + 1, outcome=outcome, queue="q")


def test_tasks_round_trip_and_order(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    store.add_task(task("b", 2000))
    store.add_task(task("a", 3000))
    store.add_task(task("c", 1000))
    assert [t.id for t in store.list_tasks()] == ["c", "b", "a"]
    assert store.get_task("b") == task("b", 2000)
    with pytest.raises(AlreadyExists):
        store.add_task(task("b"))
    changed = dataclasses.replace(task("b", 2000), cursor_ms=5000)
    store.put_task(changed)
    assert store.get_task("b") == changed
    with pytest.raises(NotFound):
        store.put_task(task("zz"))
    assert store.delete_task("b") and not store.delete_task("b")
    assert store.get_task("b") is None


def test_bulk_add_is_all_or_none(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    store.add_tasks([task("a"), task("b")])
    with pytest.raises(AlreadyExists):
        store.add_tasks([task("c"), task("a")])
    assert [t.id for t in store.list_tasks()] == ["a", "b"]


def test_ledger_unique_atomic_and_settled(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    store.add_task(task())
    store.record([run(10), run(20, RunOutcome.SKIPPED_MISFIRE)], {"t1": 20})
    assert store.get_task("t1").cursor_ms == 20
    # Given a repeat key, When recorded with a new row, Then nothing of the batch is written
    with pytest.raises(AlreadyExists):
        store.record([run(30), run(10)], {"t1": 30})
    assert store.get_task("t1").cursor_ms == 20
    assert not store.has_run("t1", 30) and store.has_run("t1", 10)
    assert [r.scheduled_ms for r in store.unsettled()] == [10]
    done = run(10)._replace(outcome=RunOutcome.ENQUEUED, message_id="m1")
    store.settle([done], deactivate=["t1"])
    assert store.unsettled() == []
    assert store.get_task("t1").spec.active is False
    assert [r.scheduled_ms for r in store.runs("t1", 10)] == [20, 10]
    assert store.runs("t1", 1)[0].scheduled_ms == 20
    assert store.last_runs()["t1"].scheduled_ms == 20
    assert store.last_enqueued()["t1"] == done


def test_delete_removes_the_ledger(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    store.add_task(task())
    store.record([run(10)], {})
    store.delete_task("t1")
    assert store.runs("t1", 10) == [] and store.unsettled() == []
    with pytest.raises(NotFound):
        store.record([run(11)], {})


def test_cursors_read_back_as_recorded(make_store) -> None:  # type: ignore[no-untyped-def]
    """The SQLite store keeps a cursor its rows imply in the rows alone: read back, it is the
    same cursor as where it is written."""
    store = make_store()
    store.add_tasks([task("a"), task("b"), task("c")])
    # Given a burst: a's cursor at its latest row, b's past its row (a skipped stretch)
    store.record([run(2000, task_id="a"), run(3000, RunOutcome.SKIPPED_MISFIRE, task_id="a"),
                  run(2000, task_id="b")], {"a": 3000, "b": 2500})
    # And a manual fire of c, later than its cursor
    store.record([TaskRun(task_id="c", scheduled_ms=9000, fired_at_ms=9000,
                          outcome=RunOutcome.SENDING, queue="q", manual=True)], {})
    # Then every cursor reads back as recorded; the manual row moved none
    assert {t.id: t.cursor_ms for t in store.list_tasks()} == {"a": 3000, "b": 2500, "c": 1000}
    assert store.get_task("a").cursor_ms == 3000
    # And a refused record moves nothing
    with pytest.raises(AlreadyExists):
        store.record([run(4000, task_id="a"), run(2000, task_id="b")], {"a": 4000, "b": 2000})
    assert store.get_task("a").cursor_ms == 3000
