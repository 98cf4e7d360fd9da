"""The SQLite ledger's SENDING rows across restarts: marks, partial settles, older files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from meshq.scheduler.model import RunOutcome, TaskRun
from meshq.scheduler.sqlite_store import SqliteScheduleStore

from .test_store_contract import run, task


def _marks(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM sending_marks").fetchone()[0])


def _enqueued(r: TaskRun) -> TaskRun:
    return r._replace(outcome=RunOutcome.ENQUEUED, message_id=f"m{r.scheduled_ms}")


def test_partly_settled_records_reopen_with_what_is_still_sending(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.db"
    store = SqliteScheduleStore(path)
    store.add_tasks([task("a"), task("b")])
    # Given two record transactions with SENDING rows, and a skip (never SENDING)
    first = [run(10, task_id="a"), run(10, task_id="b"), run(20, task_id="a")]
    store.record(first + [run(15, RunOutcome.SKIPPED_MISFIRE, task_id="b")], {})
    store.record([run(30, task_id="b")], {})
    # When part of the first is settled and the store restarts
    store.settle([_enqueued(first[0]), _enqueued(first[2])])
    store.close()
    store = SqliteScheduleStore(path)
    # Then exactly the rows still SENDING come back, oldest first
    assert [(r.task_id, r.scheduled_ms) for r in store.unsettled()] == [("b", 10), ("b", 30)]
    assert _marks(path) == 2
    # And settling them (after the restart) deletes both marks
    store.settle([_enqueued(r) for r in store.unsettled()])
    assert store.unsettled() == [] and _marks(path) == 0
    store.close()
    assert SqliteScheduleStore(path).unsettled() == []


def test_a_mark_whose_rows_are_gone_is_dropped_at_open(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.db"
    store = SqliteScheduleStore(path)
    store.add_task(task("a"))
    store.record([run(10, task_id="a")], {})
    store.delete_task("a")  # its SENDING row goes with it, never settled
    store.close()
    assert _marks(path) == 1
    store = SqliteScheduleStore(path)
    assert store.unsettled() == [] and _marks(path) == 0


def test_a_file_with_the_older_sending_index_keeps_its_unsettled_rows(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.db"
    store = SqliteScheduleStore(path)
    store.add_tasks([task("a"), task("b")])
    store.record([run(10, task_id="a"), run(20, task_id="b")], {})
    store.settle([_enqueued(run(10, task_id="a"))])
    store.close()
    # Given the file as an earlier version left it: no marks, a partial index on the outcome
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE sending_marks")
        db.execute("CREATE INDEX runs_sending ON runs(outcome) WHERE outcome = 'sending'")
    # When this version opens it
    store = SqliteScheduleStore(path)
    # Then its SENDING row is found, and the index is gone
    assert [(r.task_id, r.scheduled_ms) for r in store.unsettled()] == [("b", 20)]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name='runs_sending'").fetchone() is None
    store.settle([_enqueued(run(20, task_id="b"))])
    assert store.unsettled() == [] and _marks(path) == 0
