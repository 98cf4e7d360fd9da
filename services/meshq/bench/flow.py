"""`meshq bench flow`: flow control against a real server, in one run.

Starts `meshq serve queue` on a fresh temporary data dir (SQLite, fsync on every commit) as a
child process and measures, over raw generated stubs:

1. the delivery rate under a rate limit (its default burst, one second's worth), 4 Subscribe
   consumers, over ``--seconds`` (30) after a second of warm-up;
2. fairness: 10,000 messages of one key, then 10 of another, ``key_concurrency`` 4,
   consumers that work ``--work-ms`` per message: when the small key's last message is
   delivered, against its fair share of time (the two keys alternating: 20 deliveries at the
   run's delivery rate);
3. the throughput cost of keys and priorities: the same drain (4 Subscribe + ack) of 20,000
   messages of a plain queue and of queues whose messages carry priorities and 100 keys, in
   send order and shuffled (see ``FlowBench.cost``), in 9 rounds: each cost the median of
   the rounds' paired ratios to the plain drain;
   and the server's CPU time per message drained (from /proc: steadier than throughput on a
   shared machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import grpc

from meshq.bench.queue import BATCH, BODY, CONSUMERS, ROOM, Bench
from meshq.bench.queue import _metadata as metadata
from meshq.bench.queue import _run as run_loop
from meshq.bench.queue import _serve_queue as serve_queue
from meshq.bench.queue import _stop as stop_process
from meshq.v1 import queues_pb2 as pb

DEFAULT_RATE = 200.0  # deliveries per second in the rate phase
RATE_WARMUP = 1.0  # seconds before the rate phase counts (the bucket's saved-up burst)
BIG, SMALL = 10_000, 10
FAIR_KEY_CONCURRENCY = 4
COST_MESSAGES = 20_000
COST_KEYS = 100
COST_ROUNDS = 9
Log = Callable[[str], None]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FlowBench:
    """The flow measurements over one channel to the queue server (process ``pid``)."""

    def __init__(self, channel: grpc.aio.Channel, md: Any, pid: int) -> None:
        self.bench = Bench(channel, md)
        self.stub = self.bench.stub
        self.md = md
        self.pid = pid

    async def open(self, queue: str, **options: Any) -> None:
        await self.stub.OpenQueue(pb.OpenQueueRequest(
            room=ROOM, queue=queue, options=pb.QueueOptions(**options)), metadata=self.md)

    async def send(self, queue: str, messages: list[pb.OutgoingMessage]) -> None:
        for i in range(0, len(messages), BATCH):
            await self.stub.Send(pb.SendRequest(room=ROOM, queue=queue,
                                                messages=messages[i:i + BATCH]),
                                 metadata=self.md)

    async def rate(self, limit: float, seconds: float) -> dict[str, float]:
        """Deliveries per second to CONSUMERS streams under ``limit`` (default burst: one
        second's worth), over ``seconds`` after a second of warm-up (the saved-up burst)."""
        await self.open("rate", rate_limit=limit)
        total = int(limit * (seconds + RATE_WARMUP) * 1.2) + int(limit) + BATCH
        await self.bench.fill("rate", total // BATCH * BATCH + BATCH)
        got = 0
        stop = asyncio.Event()

        def count(frame: Any) -> None:
            nonlocal got
            got += len(frame.deliveries)

        started = time.perf_counter()
        consumers = [asyncio.create_task(self.bench.subscribe("rate", 50, count, stop))
                     for _ in range(CONSUMERS)]
        await asyncio.sleep(RATE_WARMUP)
        first, warm = got, time.perf_counter()
        await asyncio.sleep(seconds)
        delivered, now = got, time.perf_counter()
        stop.set()
        await asyncio.gather(*consumers)
        steady = (delivered - first) / (now - warm)
        return {"rate_measured": steady, "rate_error": steady / limit - 1,
                "rate_with_burst": delivered / (now - started)}

    async def fairness(self, work: float) -> dict[str, float]:
        """Seconds until the small key is all delivered, and its fair share of time."""
        await self.open("fair", key_concurrency=FAIR_KEY_CONCURRENCY)
        await self.send("fair", [pb.OutgoingMessage(json=BODY, key="big")] * BIG)
        await self.send("fair", [pb.OutgoingMessage(json=BODY, key="small")] * SMALL)
        total, small = BIG + SMALL, 0
        delivered = 0
        small_done = 0.0
        done = asyncio.Event()
        started = time.perf_counter()

        async def consumer() -> None:
            nonlocal delivered, small, small_done
            call = self.stub.Subscribe(metadata=self.md)
            await call.write(pb.SubscribeRequest(open=pb.SubscribeOpen(
                room=ROOM, queue="fair", max_in_flight=FAIR_KEY_CONCURRENCY, lease_seconds=60)))
            while not done.is_set():
                frame = await call.read()
                if frame is grpc.aio.EOF:
                    return
                for d in frame.deliveries:
                    delivered += 1
                    if d.key == "small":
                        small += 1
                        if small == SMALL:
                            small_done = time.perf_counter() - started
                if work:
                    await asyncio.sleep(work)  # the job's work, then the ack
                if frame.deliveries:
                    await call.write(pb.SubscribeRequest(
                        ack_tokens=[d.lease_token for d in frame.deliveries]))
                if delivered >= total:
                    done.set()
            call.cancel()

        tasks = [asyncio.create_task(consumer()) for _ in range(CONSUMERS)]
        await done.wait()
        elapsed = time.perf_counter() - started
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        rate = total / elapsed
        fair_share = 2 * SMALL / rate  # the two keys alternating: 20 deliveries
        return {"fair_small_done_s": small_done, "fair_share_s": fair_share,
                "fair_ratio": small_done / fair_share, "fair_delivery_rate": rate}

    async def cost(self) -> dict[str, float]:
        """Drain rates of a plain queue and of two with priorities and keys, the three kinds
        back to back in each of ``COST_ROUNDS`` rounds (each kind first in turn).

        A cost is the *median of the rounds' paired ratios* (1 - kind / plain of the same
        round): the machine's speed drifts over seconds, and a ratio of drains run
        seconds apart cancels most of it, where a ratio of each kind's best drain (this
        bench's first estimator) moved by 25 points between two runs of the same code. The
        rates shown are each kind's median.

        "in order": priority 5 and 100 keys taking turns as sent, so deliveries follow the
        send order: the cost of the flow index, the fields and the wire. "shuffled": random
        priorities 0-9 and random keys, so deliveries jump across the stored table (acks
        delete rows scattered over it): what reordering costs the store on top.
        """
        rng = random.Random(17)
        makers: dict[str, Callable[[int], pb.OutgoingMessage]] = {
            "plain": lambda i: pb.OutgoingMessage(json=BODY),
            "in_order": lambda i: pb.OutgoingMessage(json=BODY, priority=5,
                                                     key=f"tenant-{i % COST_KEYS}"),
            "shuffled": lambda i: pb.OutgoingMessage(json=BODY, priority=rng.randrange(10),
                                                     key=f"tenant-{rng.randrange(COST_KEYS)}"),
        }
        rates: dict[str, list[float]] = {name: [] for name in makers}
        cpu = dict.fromkeys(makers, float("inf"))
        names = list(makers)
        for r in range(COST_ROUNDS):
            for name in names[r % 3:] + names[:r % 3]:  # each kind first in turn
                make = makers[name]
                queue = f"{name}-{r}"
                await self.open(queue)
                await self.send(queue, [make(i) for i in range(COST_MESSAGES)])
                used = cpu_seconds(self.pid)
                rates[name].append(await self.bench.consume(queue, COST_MESSAGES, 300))
                cpu[name] = min(cpu[name], (cpu_seconds(self.pid) - used) / COST_MESSAGES)

        def cost(name: str) -> float:
            return statistics.median(1 - kind / plain
                                     for kind, plain in zip(rates[name], rates["plain"],
                                                            strict=True))

        return {"plain_drain_msgs_per_s": statistics.median(rates["plain"]),
                "flow_drain_msgs_per_s": statistics.median(rates["in_order"]),
                "shuffled_drain_msgs_per_s": statistics.median(rates["shuffled"]),
                "flow_cost": cost("in_order"), "shuffled_cost": cost("shuffled"),
                "cost_rounds": float(COST_ROUNDS),
                "plain_cpu_us": cpu["plain"] * 1e6, "flow_cpu_us": cpu["in_order"] * 1e6,
                "shuffled_cpu_us": cpu["shuffled"] * 1e6}


async def run_flow(limit: float, seconds: float, work: float, log: Log) -> dict[str, float]:
    results: dict[str, float] = {"rate_limit": limit, "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="meshq-bench-flow-") as data_dir:
        server, address, _ = await serve_queue(data_dir)
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                b = FlowBench(channel, metadata(data_dir), server.pid)
                log(f"rate limit {limit:g}/s, {CONSUMERS} consumers, {seconds:g} s ...")
                results.update(await b.rate(limit, seconds))
                log(f"fairness: {BIG:,} + {SMALL} messages, key concurrency "
                    f"{FAIR_KEY_CONCURRENCY} ...")
                results.update(await b.fairness(work))
                log(f"cost: {COST_MESSAGES:,} plain vs priorities + {COST_KEYS} keys ...")
                results.update(await b.cost())
        finally:
            await stop_process(server)
    results["load_avg_1m"] = os.getloadavg()[0]
    return results


def _table(r: dict[str, float]) -> str:
    ok = {True: "ok", False: "MISSED"}
    return "\n".join([
        f"rate limit {r['rate_limit']:g}/s, {CONSUMERS} consumers, {r['seconds']:g} s after "
        f"{RATE_WARMUP:g} s warm-up: {r['rate_measured']:.1f} deliveries/s "
        f"({r['rate_error']:+.1%})  target within +-5 %: {ok[abs(r['rate_error']) <= 0.05]}",
        f"  (from the first delivery, with the bucket's saved-up burst: "
        f"{r['rate_with_burst']:.1f}/s)",
        f"fairness: small key's {SMALL} done after {r['fair_small_done_s'] * 1000:.0f} ms, fair "
        f"share {r['fair_share_s'] * 1000:.0f} ms ({r['fair_ratio']:.2f}x; "
        f"{r['fair_delivery_rate']:,.0f} deliveries/s)  target <= 2x: "
        f"{ok[r['fair_ratio'] <= 2]}",
        f"cost of priorities + keys (drain, 4 Subscribe + ack; medians of {r['cost_rounds']:.0f} "
        f"rounds): plain "
        f"{r['plain_drain_msgs_per_s']:,.0f} msg/s; in send order "
        f"{r['flow_drain_msgs_per_s']:,.0f} msg/s ({r['flow_cost']:+.1%})  target <= 20 %: "
        f"{ok[r['flow_cost'] <= 0.2]}",
        f"  shuffled (random priorities 0-9, random keys): "
        f"{r['shuffled_drain_msgs_per_s']:,.0f} msg/s ({r['shuffled_cost']:+.1%})  "
        f"target <= 20 %: {ok[r['shuffled_cost'] <= 0.2]}",
        f"  server CPU per message drained (least of the rounds): plain "
        f"{r['plain_cpu_us']:.1f} us, in send order {r['flow_cpu_us']:.1f} us "
        f"({r['flow_cpu_us'] / r['plain_cpu_us'] - 1:+.1%}), shuffled "
        f"{r['shuffled_cpu_us']:.1f} us ({r['shuffled_cpu_us'] / r['plain_cpu_us'] - 1:+.1%})",
        f"(load average {r['load_avg_1m']:.2f} at the end)",
    ])


@click.command("flow")
@click.option("--rate-limit", "limit", type=click.FloatRange(1, 100_000),
              default=DEFAULT_RATE, show_default=True, help="The rate phase's limit, msg/s.")
@click.option("--seconds", type=click.FloatRange(1, 600), default=30.0, show_default=True,
              help="How long the rate phase runs.")
@click.option("--work-ms", type=click.FloatRange(0, 1000), default=2.0, show_default=True,
              help="Work per frame of deliveries in the fairness phase, before the ack.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Print a table or one JSON object.")
def flow_bench(limit: float, seconds: float, work_ms: float, output: str) -> None:
    """Rate limit accuracy, key fairness and the cost of priorities and keys, in one run.

    Starts `meshq serve queue` (temp data dir, SQLite with fsync) as a child process.
    Figures on a busy machine are noisy.
    """
    def log(line: str) -> None:
        if output == "table":
            click.echo(line, err=True)

    results = run_loop(run_flow(limit, seconds, work_ms / 1000, log))
    click.echo(json.dumps(results, indent=2) if output == "json" else _table(results))
