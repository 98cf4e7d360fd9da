"""`meshq bench pool`: a Ray pool's throughput on I/O-bound jobs, and its scale-out time.

One process hosts the queue and Workers services (as `meshq up` does: SQLite in a temporary
data dir, gRPC on loopback, a local Ray joined at the first StartPool); the pool's actors are
Ray worker processes that consume over gRPC.

1. Throughput: a fixed pool of R actors x concurrency C, each job awaiting S seconds, idle and
   subscribed; N jobs are sent at once; jobs/s = N / (send start -> queue empty). The ideal is
   R*C/S (4 x 16 / 0.2 s = 320 jobs/s); the target is 0.8 of it.
2. Scale-out: an autoscaled pool (min 1, max R) sits idle on 1 actor; a backlog appears; we
   time until the supervisor wants R replicas and until all R actors have finished a job.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from meshq.agents.worker import Worker

ROOM = "bench-pool"
WORKER = "meshq.bench.pool:SleepWorker"  # not __name__: "__main__" under python -m
TARGET_RATIO = 0.8


class SleepWorker(Worker):
    """A job that awaits ``seconds`` (an I/O-bound job, like an LLM call)."""

    def __init__(self, *, queue: str, seconds: float = 0.2, **kwargs: Any) -> None:
        super().__init__(queue=queue, **kwargs)
        self.seconds = seconds

    async def process_message(self, *, chat_context: Any, room: Any, message: Any,
                              toolkits: Any) -> Any:
        await asyncio.sleep(self.seconds)


async def _wait(check: Any, timeout: float, every: float = 0.05) -> float:
    """Seconds until ``check()`` is true (raises after ``timeout``)."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > timeout:
            raise click.ClickException(f"timed out after {timeout:g}s")
        await asyncio.sleep(every)
    return time.monotonic() - began


def _pending(engine: Any, queue: str) -> int:
    info = engine.registry.queue_info(ROOM, queue)
    return int(info.depth + info.in_flight + info.delayed)


async def _throughput(stack: Any, pools: Any, room: Any, *, jobs: int, replicas: int,
                      concurrency: int, seconds: float) -> dict[str, float]:
    queue = "throughput"
    await pools.start(room=ROOM, queue=queue, worker_class=WORKER,
                      worker_args={"seconds": seconds}, replicas=replicas,
                      concurrency=concurrency, name="bench-throughput")
    began = time.monotonic()
    await room.queues.send_many(queue, ({"n": i} for i in range(jobs)))
    sent = time.monotonic() - began

    async def drained() -> bool:
        return _pending(stack.context.engine, queue) == 0

    await _wait(drained, timeout=jobs * seconds + 120)
    elapsed = time.monotonic() - began
    await pools.stop("bench-throughput", grace=5)
    ideal = replicas * concurrency / seconds
    rate = jobs / elapsed
    return {"jobs": jobs, "seconds": round(elapsed, 2), "send_seconds": round(sent, 2),
            "jobs_per_second": round(rate, 1), "ideal_jobs_per_second": ideal,
            "ratio": round(rate / ideal, 3), "target_ratio": TARGET_RATIO}


async def _scale_out(pools: Any, room: Any, *, replicas: int, concurrency: int,
                     seconds: float) -> dict[str, float]:
    queue = "scaleout"
    name = "bench-scaleout"
    await pools.start(room=ROOM, queue=queue, worker_class=WORKER,
                      worker_args={"seconds": seconds}, min_replicas=1, max_replicas=replicas,
                      target_backlog=concurrency, concurrency=concurrency, name=name,
                      cooldown_seconds=600)
    backlog = replicas * concurrency * 40
    began = time.monotonic()
    await room.queues.send_many(queue, ({"n": i} for i in range(backlog)))

    async def wanted() -> bool:
        return bool((await pools.get(name)).replicas_wanted == replicas)

    decided = await _wait(wanted, timeout=60)

    async def all_working() -> bool:
        pool = await pools.get(name)
        return len(pool.actors) == replicas and all(a.done > 0 for a in pool.actors)

    await _wait(all_working, timeout=120)
    working = time.monotonic() - began
    await pools.stop(name, grace=1)
    return {"backlog": backlog, "seconds_to_decision": round(decided, 2),
            "seconds_to_all_replicas_working": round(working, 2)}


async def _main(opts: dict[str, Any]) -> dict[str, Any]:
    from meshq.api.connection import Connection
    from meshq.api.pools import PoolsClient
    from meshq.api.rooms import RoomClient
    from meshq.server.app import StackConfig
    from meshq.server.runner import open_stack

    with tempfile.TemporaryDirectory(prefix="meshq-bench-pool-") as tmp:
        settings = {"pool_backend": "ray", "ray_address": opts["ray_address"] or ""}
        stack = await open_stack(StackConfig(data_dir=Path(tmp), listen="127.0.0.1:0",
                                             services=("queue", "workers"), settings=settings))
        conn = Connection(server=stack.address, token=stack.context.token or None,
                          timeout=60)
        try:
            pools, room = PoolsClient(conn), RoomClient(room=ROOM, connection=conn)
            shape = {k: opts[k] for k in ("replicas", "concurrency", "seconds")}
            result = {"throughput": await _throughput(stack, pools, room, jobs=opts["jobs"],
                                                      **shape)}
            result["scale_out"] = await _scale_out(pools, room, **shape)
            return result
        finally:
            await conn.close()
            await stack.stop(grace=2)


@click.command("pool")
@click.option("--jobs", type=click.IntRange(1), default=3000, show_default=True,
              help="Jobs in the throughput run.")
@click.option("--replicas", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--seconds", type=click.FloatRange(0.001), default=0.2, show_default=True,
              help="Seconds each job awaits.")
@click.option("--ray-address", default="", help="Join this Ray cluster [default: local Ray].")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def pool_bench(output: str, **opts: Any) -> None:
    """Pool throughput (R actors x C jobs each awaiting S s) and scale-out time."""
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    result = asyncio.run(_main(opts))
    if output == "json":
        click.echo(json.dumps(result, indent=2))
        return
    t, s = result["throughput"], result["scale_out"]
    verdict = "ok" if t["ratio"] >= TARGET_RATIO else "BELOW TARGET"
    click.echo(f"throughput: {t['jobs']} jobs in {t['seconds']} s = {t['jobs_per_second']} "
               f"jobs/s; ideal {t['ideal_jobs_per_second']:g}; ratio {t['ratio']} "
               f"(target >= {TARGET_RATIO}) {verdict}")
    click.echo(f"scale-out: backlog {s['backlog']} -> {opts['replicas']} replicas wanted after "
               f"{s['seconds_to_decision']} s, all taking work after "
               f"{s['seconds_to_all_replicas_working']} s")


if __name__ == "__main__":
    pool_bench()
