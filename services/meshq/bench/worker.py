"""`meshq bench worker`: one Worker with concurrency 64 on jobs that await 200 ms.

The 200 ms await stands in for model latency, so the figure measures the runtime (credit,
dispatch, lease extension, ack) rather than the work. The target is 80 % of the ideal
``concurrency / job seconds`` (0.8 x 64 / 0.2 s = 256 jobs/s). The queue server runs as a child
process (`meshq serve queue` on a fresh temporary data dir, fsync on every commit), so the
worker and the server do not share an event loop. The queue is filled first; the clock runs
from the worker's start to the last ack.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from meshq.agents.observer import WorkerObserver
from meshq.agents.worker import Worker
from meshq.api.rooms import RoomClient

ROOM = "bench"
QUEUE = "worker-bench"
TARGET_FRACTION = 0.8  # the bar: 80 % of the ideal rate


class SleepWorker(Worker):
    """A job is an ``await asyncio.sleep(job_seconds)``: model latency without a model."""

    def __init__(self, *, job_seconds: float, **kwargs: Any) -> None:
        super().__init__(queue=QUEUE, name="bench-worker", **kwargs)
        self.job_seconds = job_seconds

    async def process_message(self, *, chat_context: Any, room: Any, message: Any,
                              toolkits: Any) -> Any:
        await asyncio.sleep(self.job_seconds)


class Done(WorkerObserver):
    """Sets ``event`` once ``target`` jobs were acked."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.ok = 0
        self.other = 0
        self.event = asyncio.Event()

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        if outcome == "ok":
            self.ok += 1
            if self.ok >= self.target:
                self.event.set()
        else:
            self.other += 1


async def measure(address: str, token: str | None, *, jobs: int, concurrency: int,
                  job_seconds: float) -> dict[str, float]:
    async with RoomClient(room=ROOM, server=address, token=token) as room:
        await room.queues.send_many(QUEUE, [{"n": n} for n in range(jobs)])
        done = Done(jobs)
        worker = SleepWorker(job_seconds=job_seconds, concurrency=concurrency, observer=done)
        began = time.perf_counter()
        async with worker.serving(room):
            await asyncio.wait_for(done.event.wait(), timeout=max(60.0, jobs * job_seconds))
            elapsed = time.perf_counter() - began
    ideal = concurrency / job_seconds
    return {"jobs": jobs, "concurrency": concurrency, "job_seconds": job_seconds,
            "seconds": elapsed, "jobs_per_s": jobs / elapsed, "ideal_jobs_per_s": ideal,
            "target_jobs_per_s": TARGET_FRACTION * ideal,
            "ratio_to_ideal": jobs / elapsed / ideal, "not_ok": done.other}


async def run_bench(*, jobs: int, concurrency: int, job_seconds: float) -> dict[str, float]:
    from meshq.bench.queue import _spawn, _stop

    meshq = str(Path(sys.executable).with_name("meshq"))
    with tempfile.TemporaryDirectory(prefix="meshq-worker-bench-") as data_dir:
        server, address = await _spawn(meshq, "serve", "queue", "--data-dir", data_dir,
                                       "--listen", "127.0.0.1:0", "--metrics-listen", "")
        try:
            token_file = Path(data_dir) / "admin.token"
            token = token_file.read_text().strip() if token_file.exists() else None
            return await measure(address, token, jobs=jobs, concurrency=concurrency,
                                 job_seconds=job_seconds)
        finally:
            await _stop(server)


@click.command("worker")
@click.option("--jobs", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--job-ms", type=click.IntRange(min=1), default=200, show_default=True,
              help="How long each job awaits (a stand-in for model latency).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def worker_bench(jobs: int, concurrency: int, job_ms: int, as_json: bool) -> None:
    """Worker throughput: jobs that await 200 ms, one worker with concurrency 64.

    Target: 0.8 x concurrency / job time (256 jobs/s with the defaults).
    """
    figures = asyncio.run(run_bench(jobs=jobs, concurrency=concurrency,
                                    job_seconds=job_ms / 1000))
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    verdict = "meets" if figures["jobs_per_s"] >= figures["target_jobs_per_s"] else "MISSES"
    click.echo(f"{jobs} jobs x {job_ms} ms, concurrency {concurrency}: "
               f"{figures['jobs_per_s']:.1f} jobs/s in {figures['seconds']:.2f} s "
               f"({figures['ratio_to_ideal']:.0%} of the ideal {figures['ideal_jobs_per_s']:.0f}); "
               f"target {figures['target_jobs_per_s']:.0f} jobs/s: {verdict}")
