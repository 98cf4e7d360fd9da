"""`meshq bench scheduler`: N tasks due on the same second -> fire lag p50 / p99.

Fire lag is enqueue commit minus scheduled instant, as the engine's observer reports it (the
same figure as the ``meshq_scheduler_fire_lag_seconds`` histogram). Real parts: a SQLite
schedule store and a real queue engine over a SQLite queue store, in one process, in a
temporary directory; the scheduler's own loop wakes for the instant.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from meshq.scheduler.observer import SchedulerObserver

TARGET_P99 = 0.250  # seconds: the target on the 2-core machine


class _LagObserver(SchedulerObserver):
    def __init__(self, expected: int) -> None:
        self.lags: list[float] = []
        self.outcomes: dict[str, int] = {}
        self.expected = expected
        self.done = asyncio.Event()

    def fired(self, room: str, queue: str, task_id: str, outcome: str, lag_seconds: float | None) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if lag_seconds is not None:
            self.lags.append(lag_seconds)
        if sum(self.outcomes.values()) >= self.expected:
            self.done.set()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def _run(tasks: int, queues: int, data_dir: Path) -> dict[str, Any]:
    from meshq.queue.component import SWITCH_INTERVAL
    from meshq.queue.engine import QueueEngine
    from meshq.queue.sqlite_store import SqliteQueueStore
    from meshq.scheduler.engine import SchedulerEngine
    from meshq.scheduler.enqueuer import EngineEnqueuer
    from meshq.scheduler.model import Task, TaskSpec
    from meshq.scheduler.sqlite_store import SqliteScheduleStore
    from meshq.scheduler.validate import check_spec

    # The GIL switch interval `meshq up` runs with (set by the queue component's start).
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    queue_engine = QueueEngine(SqliteQueueStore(data_dir / "queues.db"))
    await queue_engine.start()
    await queue_engine.create_room("bench")
    observer = _LagObserver(tasks)
    store = SqliteScheduleStore(data_dir / "scheduler.db")
    # The instant: far enough ahead to store the tasks and load them into the engine.
    due = math.ceil(time.time()) + 5 + math.ceil(tasks / 1000)
    when = datetime.fromtimestamp(due, UTC)
    schedule = f"{when.second} {when.minute} {when.hour} {when.day} {when.month} *"
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    specs = [check_spec(TaskSpec(room="bench", queue=f"q{i % queues}", schedule=schedule,
                                 payload_json=json.dumps({"i": i}))) for i in range(tasks)]
    store.add_tasks([Task(id=uuid.uuid4().hex, spec=spec, created_at_ms=now_ms, cursor_ms=now_ms)
                     for spec in specs])
    engine = SchedulerEngine(store, EngineEnqueuer(queue_engine), observer=observer)
    await engine.start()
    add_seconds = time.perf_counter() - started
    if time.time() >= due:
        raise click.ClickException("loading the tasks took past the instant; use fewer --tasks")
    await asyncio.wait_for(observer.done.wait(), timeout=(due - time.time()) + 120)
    depth = sum(q.depth for q in queue_engine.registry.list_queues("bench"))
    await engine.stop()
    await queue_engine.close()
    lags = observer.lags
    return {
        "tasks": tasks, "queues": queues, "enqueued": len(lags), "messages_in_queues": depth,
        "outcomes": observer.outcomes, "add_seconds": round(add_seconds, 3),
        "lag_p50_ms": round(_percentile(lags, 0.50) * 1000, 1),
        "lag_p99_ms": round(_percentile(lags, 0.99) * 1000, 1),
        "lag_max_ms": round(max(lags) * 1000, 1), "lag_mean_ms": round(statistics.fmean(lags) * 1000, 1),
        "target_p99_ms": TARGET_P99 * 1000, "met": _percentile(lags, 0.99) <= TARGET_P99,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


@click.command("scheduler")
@click.option("--tasks", type=int, default=10_000, show_default=True, help="Tasks due on the same second.")
@click.option("--queues", type=int, default=10, show_default=True, help="Queues the tasks spread over.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def scheduler_bench(tasks: int, queues: int, output: str) -> None:
    """Fire lag (enqueue commit - scheduled instant) of N tasks due on the same second."""
    with tempfile.TemporaryDirectory(prefix="meshq-bench-scheduler-") as tmp:
        result = asyncio.run(_run(tasks, max(1, queues), Path(tmp)))
    if output == "json":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['tasks']} tasks due on one second over {result['queues']} queues "
               f"(stored and loaded in {result['add_seconds']} s)")
    click.echo(f"enqueued {result['enqueued']}, messages in queues {result['messages_in_queues']}")
    click.echo(f"fire lag p50 {result['lag_p50_ms']} ms, p99 {result['lag_p99_ms']} ms, "
               f"max {result['lag_max_ms']} ms (target p99 <= {result['target_p99_ms']:.0f} ms: "
               f"{'met' if result['met'] else 'NOT met'}); load average {result['load_average_1m']}")
