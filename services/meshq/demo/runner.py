"""The demo flow: start the stack in-process, run a worker, a scheduled task and a batch.

Everything is real: gRPC on loopback, SQLite and room storage in a temporary data dir, the
worker consuming over Subscribe. With ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` set, the worker
is the LLM queue agent with the storage tools; without, the plain-Python word-count worker
from ``examples/word_count_worker.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshq.agents.observer import WorkerObserver
from meshq.agents.worker import Worker
from meshq.api.client import MeshqClient
from meshq.api.rooms import RoomClient
from meshq.demo.texts import make_text

ROOM = "demo"
QUEUE = "demo-jobs"
TEXTS = 8  # distinct source files in storage
SCHEDULE = "*/2 * * * * *"  # every 2 seconds (6 fields: seconds first)
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SERVICES = ("queue", "storage", "scheduler")


@dataclass
class DemoResult:
    """What the results table shows."""

    mode: str
    jobs: int
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    scheduled_runs: int = 0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


class Timings(WorkerObserver):
    """Collects each job's time from delivery to ack."""

    def __init__(self) -> None:
        self.ok: list[float] = []
        self.failed = 0

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        if outcome == "ok":
            self.ok.append(seconds)
        elif outcome == "failed":
            self.failed += 1


def llm_configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def make_worker(*, llm: bool, concurrency: int, observer: WorkerObserver) -> Worker:
    if llm:
        from meshq.agents.queue_agent import build_queue_agent

        return build_queue_agent(agent_name="demo-agent", queue=QUEUE, require_storage=True,
                                 concurrency=concurrency, observer=observer)
    spec = importlib.util.spec_from_file_location("word_count_worker",
                                                  EXAMPLES / "word_count_worker.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{EXAMPLES / 'word_count_worker.py'} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    worker: Worker = module.WordCountWorker(queue=QUEUE, concurrency=concurrency,
                                            observer=observer)
    return worker


def job(i: int, *, llm: bool) -> dict[str, Any]:
    source = f"texts/{i % TEXTS}.txt"
    if llm:
        return {"instructions": f"read {source} and write a two-line summary of it to "
                                f"summaries/{i}.txt"}
    return {"path": source, "name": f"job-{i}"}


async def wait_for(check: Any, timeout: float, what: str) -> None:
    """Poll an async ``check`` (state that lives on the server) until true or time out."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def scheduled_run(client: MeshqClient, room: RoomClient, *, llm: bool,
                        timeout: float) -> int:
    """Add a task firing every 2 s, wait until the worker has done one fire, delete it."""
    payload = job(0, llm=llm) | ({} if llm else {"name": "scheduled"})
    task = await client.scheduler.add(room=ROOM, queue=QUEUE, schedule=SCHEDULE,
                                      payload=payload, name="demo-every-2s")
    target = "summaries/0.txt" if llm else "reports/scheduled.json"
    try:
        await wait_for(lambda: room.storage.exists(target), timeout, "the scheduled task's job")
        return len(await client.scheduler.runs(task.id))
    finally:
        await client.scheduler.delete(task.id)


async def run_batch(room: RoomClient, worker: Worker, timings: Timings, *, jobs: int,
                    llm: bool, progress: Any, timeout: float) -> float:
    """Send ``jobs`` jobs and wait for all of them; returns the seconds it took."""
    first = len(timings.ok)
    sending = progress.add_task("sending", total=jobs)
    working = progress.add_task("done", total=jobs)
    began = time.monotonic()
    for start in range(0, jobs, 100):
        batch = [job(i, llm=llm) for i in range(start, min(start + 100, jobs))]
        await room.queues.send_many(QUEUE, batch)
        progress.advance(sending, len(batch))
    deadline = began + timeout
    while len(timings.ok) - first < jobs:
        progress.update(working, completed=len(timings.ok) - first)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(timings.ok) - first} of {jobs} jobs finished")
        await asyncio.sleep(0.05)
    progress.update(working, completed=jobs)
    return time.monotonic() - began


async def run_demo(*, data_dir: Path, jobs: int, concurrency: int, progress: Any,
                   timeout: float = 300.0) -> DemoResult:
    """The whole flow against a stack started here; returns what to print."""
    from meshq.server.app import StackConfig
    from meshq.server.runner import open_stack

    llm = llm_configured()
    result = DemoResult(mode="LLM agent" if llm else "word-count worker (no model)", jobs=jobs)
    stack = await open_stack(StackConfig(data_dir=data_dir, listen="127.0.0.1:0",
                                         services=SERVICES))
    try:
        async with MeshqClient(server=stack.address, token=stack.context.token or None) as client:
            await client.rooms.create(ROOM, if_not_exists=True)
            room = client.room(ROOM)
            for i in range(TEXTS):
                await room.storage.write(f"texts/{i}.txt", make_text(i))
            timings = Timings()
            worker = make_worker(llm=llm, concurrency=concurrency, observer=timings)
            async with worker.serving(room):
                result.scheduled_runs = await scheduled_run(client, room, llm=llm,
                                                            timeout=min(timeout, 60))
                result.seconds = await run_batch(room, worker, timings, jobs=jobs, llm=llm,
                                                 progress=progress, timeout=timeout)
            result.done = len(timings.ok)
            result.failed = timings.failed
            result.latencies = sorted(timings.ok)
            folder = "summaries" if llm else "reports"
            result.files = [f.path for f in await room.storage.list(folder) if not f.is_dir]
    finally:
        await stack.stop(grace=1.0)
    return result
