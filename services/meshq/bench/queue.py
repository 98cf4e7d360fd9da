"""`meshq bench queue`: queue throughput and latency against a real server, in one run.

It starts two child processes: a bare gRPC echo server (generic handlers, no meshq code: the
machine's ceiling) and `meshq serve queue` on a fresh temporary data dir (SQLite, fsync on
every commit). Clients use the raw generated stubs, so the figures depend only on the protos.
The latency phase's subscriber is a third child process (``python -m meshq.bench.queue
subscriber ADDRESS QUEUE N``), so the sender's event loop cannot delay its timestamps.
Run `python -m meshq.bench.queue` to start just the echo server.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc

from meshq.api.paths import admin_token_path
from meshq.v1 import queues_pb2 as pb
from meshq.v1 import queues_pb2_grpc

ROOM = "bench"
BODY = json.dumps({"job": "x" * 180})  # ~200-byte messages
CALLERS = 64
BATCH = 100
CONSUMERS = 4
PRODUCERS = 4  # batched senders in the end-to-end phase
Md = tuple[tuple[str, str], ...]
T = TypeVar("T")


UVLOOP_ENV = "MESHQ_UVLOOP"  # "1": the bench's processes (and a server that honours it) use uvloop


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, or ``uvloop.run`` when MESHQ_UVLOOP=1 and uvloop is installed."""
    if os.environ.get(UVLOOP_ENV) == "1":
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            pass
        else:
            result: T = uvloop.run(coro)
            return result
    return asyncio.run(coro)


def _uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


# -- child processes ----------------------------------------------------------------------------

async def _spawn(*argv: str, env: dict[str, str] | None = None
                 ) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise click.ClickException(f"{argv[0]} exited before it was ready")
            if "listening on" in line:
                return proc, line.rsplit(" ", 1)[1].strip()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _echo_main() -> None:
    """A bare grpc.aio server: /bench.Echo/Unary echoes, /bench.Echo/Stream streams empties."""

    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def stream(request: bytes, context: Any) -> Any:
        while True:
            yield b""

    async def main() -> None:
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler("bench.Echo", {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        })
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"echo listening on 127.0.0.1:{port}", flush=True)
        await server.wait_for_termination()

    _run(main())


async def _subscriber(address: str, queue: str, n: int) -> None:
    """The latency phase's consumer (a child process): stamp every delivery, ack it.

    Prints ``ready`` once the stream is open, then one JSON list of the n delays (seconds).
    """
    auth = os.environ.get("MESHQ_BENCH_AUTHORIZATION", "")
    md: Md = (("authorization", auth),) if auth else ()
    samples: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        call = queues_pb2_grpc.QueueServiceStub(channel).Subscribe(metadata=md)
        await call.write(pb.SubscribeRequest(open=pb.SubscribeOpen(
            room=ROOM, queue=queue, max_in_flight=100, lease_seconds=60)))
        await call.read()  # the empty frame that confirms the open
        print("ready", flush=True)
        while len(samples) < n:
            frame = await call.read()
            if frame is grpc.aio.EOF:
                break
            now = time.perf_counter()
            if frame.deliveries:
                samples.extend(now - json.loads(d.json)["t"] for d in frame.deliveries)
                await call.write(pb.SubscribeRequest(
                    ack_tokens=[d.lease_token for d in frame.deliveries]))
        call.cancel()
    print(json.dumps(samples), flush=True)


# -- measurements -------------------------------------------------------------------------------

async def _for(seconds: float, callers: int, call: Callable[[], Awaitable[int]]) -> float:
    """Run ``callers`` loops of ``call`` (each returns how many it did) for ``seconds``: rate."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            n = await call()  # not `done += await call()`: that reads done before awaiting
            done += n

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(callers)))
    return done / (time.perf_counter() - started)


async def raw_ceiling(address: str, seconds: float) -> tuple[float, float]:
    async with grpc.aio.insecure_channel(address) as channel:
        echo = channel.unary_unary("/bench.Echo/Unary")

        async def one() -> int:
            await echo(b"")
            return 1

        unary = await _for(seconds, CALLERS, one)
        call = channel.unary_stream("/bench.Echo/Stream")(b"")
        count, stop_at = 0, time.perf_counter() + seconds
        started = time.perf_counter()
        async for _ in call:
            count += 1
            if count % 1000 == 0 and time.perf_counter() > stop_at:
                break
        stream = count / (time.perf_counter() - started)
        call.cancel()
    return unary, stream


class Bench:
    """The queue measurements over one channel to the queue server."""

    def __init__(self, channel: grpc.aio.Channel, md: Md) -> None:
        self.stub = queues_pb2_grpc.QueueServiceStub(channel)
        self.md = md

    async def open(self, queue: str) -> None:
        await self.stub.OpenQueue(pb.OpenQueueRequest(room=ROOM, queue=queue), metadata=self.md)

    async def send(self, queue: str, bodies: list[str]) -> None:
        await self.stub.Send(pb.SendRequest(room=ROOM, queue=queue, messages=[
            pb.OutgoingMessage(json=b) for b in bodies]), metadata=self.md)

    async def fill(self, queue: str, n: int) -> None:
        batches = [BATCH] * (n // BATCH)
        sem = asyncio.Semaphore(8)

        async def one(size: int) -> None:
            async with sem:
                await self.send(queue, [BODY] * size)

        await asyncio.gather(*(one(s) for s in batches))

    async def unbatched_send(self, seconds: float) -> float:
        await self.open("unbatched")
        request = pb.SendRequest(room=ROOM, queue="unbatched",
                                 messages=[pb.OutgoingMessage(json=BODY)])

        async def one() -> int:
            await self.stub.Send(request, metadata=self.md)
            return 1

        return await _for(seconds, CALLERS, one)

    async def subscribe(self, queue: str, window: int, on_frame: Callable[[Any], None],
                        stop: asyncio.Event) -> None:
        """Consume with one stream, acking each frame's deliveries on the same stream.

        One reader task per stream, cancelled when ``stop`` is set: no future per frame.
        """
        call = self.stub.Subscribe(metadata=self.md)
        await call.write(pb.SubscribeRequest(open=pb.SubscribeOpen(
            room=ROOM, queue=queue, max_in_flight=window, lease_seconds=60)))

        async def consume() -> None:
            while True:
                frame = await call.read()
                if frame is grpc.aio.EOF:
                    return
                if frame.deliveries:
                    on_frame(frame)
                    await call.write(pb.SubscribeRequest(
                        ack_tokens=[d.lease_token for d in frame.deliveries]))

        reader = asyncio.create_task(consume())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait((reader, stopper), return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        stopper.cancel()
        call.cancel()
        await asyncio.gather(reader, stopper, return_exceptions=True)

    async def end_to_end(self, seconds: float) -> float:
        """Batched senders and one Subscribe stream with acks: acked msg/s."""
        await self.open("e2e")
        acked = 0
        stop = asyncio.Event()

        def count(frame: Any) -> None:
            nonlocal acked
            acked += len(frame.deliveries)

        consumer = asyncio.create_task(self.subscribe("e2e", 2000, count, stop))

        async def producer() -> int:
            await self.send("e2e", [BODY] * BATCH)
            return BATCH

        started = time.perf_counter()
        await _for(seconds, PRODUCERS, producer)
        rate = acked / (time.perf_counter() - started)
        stop.set()
        await consumer
        return rate

    async def latency(self, address: str, seconds: float, rate: int = 1000
                      ) -> tuple[float, float, int]:
        """Open-loop sends at ``rate``/s; enqueue call start -> delivery in another process.

        The subscriber is a child process (its own event loop and GIL, so the sender's
        scheduling cannot delay a delivery's timestamp, nor the reverse); both stamp with
        ``time.perf_counter`` (CLOCK_MONOTONIC, one clock for every process). Send i starts
        at ``start + i / rate`` whether or not earlier sends have replied.
        """
        await self.open("latency")
        n = int(seconds * rate)
        token = dict(self.md).get("authorization", "")
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "meshq.bench.queue", "subscriber", address, "latency",
            str(n), stdout=asyncio.subprocess.PIPE, limit=1 << 24,
            env={**os.environ, "MESHQ_BENCH_AUTHORIZATION": token})
        assert child.stdout is not None
        try:
            async with asyncio.timeout(30):
                if (await child.stdout.readline()).strip() != b"ready":
                    raise click.ClickException("the latency subscriber did not start")
            await self._paced_sends(n, rate)
            async with asyncio.timeout(30):
                samples = json.loads(await child.stdout.readline())
        finally:
            if child.returncode is None:
                child.kill()
            await child.wait()
        q = statistics.quantiles(samples, n=100)
        return q[49] * 1000, q[98] * 1000, len(samples)

    async def _paced_sends(self, n: int, rate: int) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        sends = []
        for i in range(n):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            body = json.dumps({"t": time.perf_counter()})
            sends.append(asyncio.ensure_future(self.send("latency", [body])))
        await asyncio.gather(*sends)

    async def long_poll(self, seconds: float) -> float:
        """CONSUMERS callers: Receive (wait, lease, one message) then a unary Ack."""
        await self.open("poll")
        await self.fill("poll", int(seconds * 3000))
        request = pb.ReceiveRequest(room=ROOM, queue="poll", wait=True, timeout_seconds=1,
                                    max_messages=1, lease_seconds=60)

        async def one() -> int:
            got = (await self.stub.Receive(request, metadata=self.md)).deliveries
            if got:
                await self.stub.Ack(pb.AckRequest(room=ROOM, queue="poll", lease_tokens=[
                    d.lease_token for d in got]), metadata=self.md)
            return len(got)

        return await _for(seconds, CONSUMERS, one)

    async def streams(self, seconds: float, n: int) -> float:
        """The same CONSUMERS as Subscribe streams over ``n`` waiting messages: acked msg/s."""
        await self.open("streams")
        await self.fill("streams", n)
        return await self.consume("streams", n, seconds * 3)

    async def consume(self, queue: str, n: int, timeout: float) -> float:
        """CONSUMERS Subscribe streams take and ack ``n`` waiting messages: acked msg/s."""
        got = 0
        all_done = asyncio.Event()

        def count(frame: Any) -> None:
            nonlocal got
            got += len(frame.deliveries)
            if got >= n:
                all_done.set()

        started = time.perf_counter()
        consumers = [asyncio.create_task(self.subscribe(queue, 500, count, all_done))
                     for _ in range(CONSUMERS)]
        try:
            async with asyncio.timeout(timeout):
                await all_done.wait()
        except TimeoutError:
            all_done.set()
        rate = got / (time.perf_counter() - started)
        await asyncio.gather(*consumers)
        return rate

    async def depth(self, queue: str) -> int:
        reply = await self.stub.ListQueues(pb.ListQueuesRequest(room=ROOM), metadata=self.md)
        return sum(q.depth for q in reply.queues if q.name == queue)


# -- the backlog measurement --------------------------------------------------------------------

DRAIN_SAMPLE = 50_000  # messages drained from the deep queue and from a shallow one


def _rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise click.ClickException(f"no VmRSS for process {pid}")


async def _serve_queue(data_dir: str) -> tuple[asyncio.subprocess.Process, str, float]:
    """`meshq serve queue` on ``data_dir``; (process, address, seconds until it serves)."""
    meshq = str(Path(sys.executable).with_name("meshq"))
    started = time.perf_counter()
    proc, address = await _spawn(meshq, "serve", "queue", "--data-dir", data_dir,
                                 "--listen", "127.0.0.1:0", "--metrics-listen", "")
    return proc, address, time.perf_counter() - started


def _metadata(data_dir: str) -> Md:
    token_file = admin_token_path(Path(data_dir))
    return ((("authorization", "Bearer " + token_file.read_text().strip()),)
            if token_file.exists() else ())


async def run_backlog(n: int, log: Callable[[str], None]) -> dict[str, float]:
    """N queued ~200-byte messages: RSS per message after a restart, restart time, and the
    drain rate at that depth against two shallow queues': one restarted with it (bodies on
    disk, like the deep one's: the effect of depth alone) and one just filled (bodies still
    in memory: depth and the read from disk together)."""
    results: dict[str, float] = {"backlog_messages": float(n)}
    sample = min(n, DRAIN_SAMPLE)
    with tempfile.TemporaryDirectory(prefix="meshq-bench-backlog-") as data_dir:
        server, address, results["start_empty_s"] = await _serve_queue(data_dir)
        try:
            rss_empty = _rss_bytes(server.pid)
            async with grpc.aio.insecure_channel(address) as channel:
                b = Bench(channel, _metadata(data_dir))
                await b.open("backlog")
                log(f"filling {n:,} messages …")
                started = time.perf_counter()
                await b.fill("backlog", n)
                results["fill_msgs_per_s"] = n / (time.perf_counter() - started)
                results["rss_bytes_per_msg_filled"] = (_rss_bytes(server.pid) - rss_empty) / n
                await b.open("shallow-restarted")
                await b.fill("shallow-restarted", sample)
        finally:
            await _stop(server)
        # Restart twice and keep the faster: on a shared machine one start can stall for
        # seconds on other work (the empty start is taken the same way, below).
        log("restarting …")
        server, address, first = await _serve_queue(data_dir)
        await _stop(server)
        server, address, second = await _serve_queue(data_dir)
        results["restart_s"] = min(first, second)
        with tempfile.TemporaryDirectory(prefix="meshq-bench-empty-") as empty_dir:
            empty, _, again = await _serve_queue(empty_dir)
            await _stop(empty)
        results["start_empty_s"] = min(results["start_empty_s"], again)
        try:
            rss = _rss_bytes(server.pid)
            results["rss_empty_mb"] = rss_empty / 1e6
            results["rss_after_restart_mb"] = rss / 1e6
            results["rss_bytes_per_msg"] = (rss - rss_empty) / n
            results["restart_s_per_million"] = max(
                0.0, results["restart_s"] - results["start_empty_s"]) * 1e6 / n
            async with grpc.aio.insecure_channel(address) as channel:
                b = Bench(channel, _metadata(data_dir))
                assert await b.depth("backlog") == n, "the backlog did not survive the restart"
                log(f"draining {sample:,} at depth {n:,} …")
                results["drain_deep_msgs_per_s"] = await b.consume("backlog", sample, 300)
                log(f"draining {sample:,} from a shallow queue, also restarted …")
                results["drain_shallow_restarted_msgs_per_s"] = await b.consume(
                    "shallow-restarted", sample, 300)
                await b.open("shallow")
                await b.fill("shallow", sample)
                log(f"draining {sample:,} from a shallow queue just filled …")
                results["drain_shallow_msgs_per_s"] = await b.consume("shallow", sample, 300)
        finally:
            await _stop(server)
    results["drain_deep_vs_shallow_restarted"] = (
        results["drain_deep_msgs_per_s"] / max(results["drain_shallow_restarted_msgs_per_s"], 1e-9))
    results["drain_deep_vs_shallow"] = (results["drain_deep_msgs_per_s"]
                                        / max(results["drain_shallow_msgs_per_s"], 1e-9))
    return results


BACKLOG_ROWS = [
    ("backlog (messages of ~200 bytes)", "backlog_messages", "msg", ""),
    ("server RSS per message once filled", "rss_bytes_per_msg_filled", "bytes", ""),
    ("server RSS per message after a restart", "rss_bytes_per_msg", "bytes", "target <= 200"),
    ("restart to serving", "restart_s", "s", ""),
    ("  of it per million (less an empty start)", "restart_s_per_million", "s", "target <= 1.5"),
    ("drain at that depth (4 Subscribe + ack)", "drain_deep_msgs_per_s", "msg/s", ""),
    ("drain of a shallow queue, also restarted", "drain_shallow_restarted_msgs_per_s", "msg/s",
     ""),
    ("  deep / shallow, both restarted", "drain_deep_vs_shallow_restarted", "x",
     "target >= 0.8"),
    ("drain of a shallow queue just filled", "drain_shallow_msgs_per_s", "msg/s", ""),
    ("  deep / shallow just filled", "drain_deep_vs_shallow", "x", "target >= 0.8"),
]


def _backlog_table(results: dict[str, float]) -> str:
    lines = []
    for label, key, unit, target in BACKLOG_ROWS:
        value = results[key]
        shown = f"{value:,.2f}" if unit in ("s", "x") else f"{value:,.0f}"
        lines.append(f"{label:<44} {shown:>12} {unit:<8} {target}")
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------------

async def run_all(seconds: float, log: Callable[[str], None]) -> dict[str, float]:
    meshq = str(Path(sys.executable).with_name("meshq"))
    echo, echo_address = await _spawn(sys.executable, "-m", "meshq.bench.queue")
    results: dict[str, float] = {}
    try:
        log("raw gRPC ceiling …")
        results["raw_unary_echo_per_s"], results["raw_stream_msgs_per_s"] = await raw_ceiling(
            echo_address, seconds)
    finally:
        await _stop(echo)
    with tempfile.TemporaryDirectory(prefix="meshq-bench-") as data_dir:
        server, address = await _spawn(
            meshq, "serve", "queue", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
            "--metrics-listen", "")
        try:
            token_file = admin_token_path(Path(data_dir))
            md: Md = ((("authorization", "Bearer " + token_file.read_text().strip()),)
                      if token_file.exists() else ())
            async with grpc.aio.insecure_channel(address) as channel:
                await _queue_figures(Bench(channel, md), address, seconds, results, log,
                                     server_pid=server.pid)
        finally:
            await _stop(server)
    return results


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _queue_figures(b: Bench, address: str, seconds: float, results: dict[str, float],
                         log: Callable[[str], None], *, server_pid: int) -> None:
    """The figures; the server's CPU time per message of the first two phases too (less
    sensitive to a machine shared with other work than the rates)."""
    log("unbatched send …")
    cpu = _cpu_seconds(server_pid)
    results["send_unbatched_msgs_per_s"] = await b.unbatched_send(seconds)
    results["send_unbatched_server_cpu_us_per_msg"] = (
        (_cpu_seconds(server_pid) - cpu) * 1e6 / (results["send_unbatched_msgs_per_s"] * seconds))
    log("batched send + Subscribe + ack …")
    cpu = _cpu_seconds(server_pid)
    results["e2e_batched_msgs_per_s"] = await b.end_to_end(seconds)
    results["e2e_server_cpu_us_per_msg"] = (
        (_cpu_seconds(server_pid) - cpu) * 1e6 / (results["e2e_batched_msgs_per_s"] * seconds))
    log("latency at 1,000 msg/s …")
    p50, p99, n = await b.latency(address, seconds)
    results.update(latency_p50_ms=p50, latency_p99_ms=p99, latency_samples=n)
    log("Receive (long-poll) …")
    results["receive_longpoll_msgs_per_s"] = await b.long_poll(seconds)
    log("Subscribe, same consumers …")
    results["subscribe_msgs_per_s"] = await b.streams(seconds, max(20_000, int(seconds * 20_000)))
    results["send_vs_unary_echo"] = results["send_unbatched_msgs_per_s"] / results[
        "raw_unary_echo_per_s"]
    results["e2e_vs_stream_ceiling"] = results["e2e_batched_msgs_per_s"] / results[
        "raw_stream_msgs_per_s"]
    results["subscribe_vs_longpoll"] = results["subscribe_msgs_per_s"] / max(
        results["receive_longpoll_msgs_per_s"], 1e-9)


ROWS = [
    ("raw gRPC unary echo, 64 callers", "raw_unary_echo_per_s", "calls/s", ""),
    ("raw gRPC server stream, 1 msg/frame", "raw_stream_msgs_per_s", "msg/s", ""),
    ("Send unbatched, 64 senders", "send_unbatched_msgs_per_s", "msg/s",
     "send_vs_unary_echo:>= 0.7 x echo"),
    ("  server CPU per message", "send_unbatched_server_cpu_us_per_msg", "us", ""),
    ("batched Send + Subscribe + ack (durable)", "e2e_batched_msgs_per_s", "msg/s",
     "e2e_vs_stream_ceiling:target >= 80,000"),
    ("  server CPU per message", "e2e_server_cpu_us_per_msg", "us", ""),
    ("enqueue -> delivery p50 @ 1,000 msg/s", "latency_p50_ms", "ms", ":target <= 0.8 ms"),
    ("enqueue -> delivery p99 @ 1,000 msg/s", "latency_p99_ms", "ms", ":target <= 2 ms"),
    ("Receive long-poll + Ack, 4 consumers", "receive_longpoll_msgs_per_s", "msg/s", ""),
    ("Subscribe + ack, same 4 consumers", "subscribe_msgs_per_s", "msg/s",
     "subscribe_vs_longpoll:>= 5 x long-poll"),
]


def _table(results: dict[str, float]) -> str:
    lines = []
    for label, key, unit, note in ROWS:
        ratio_key, _, target = note.partition(":")
        ratio = f"  ({results[ratio_key]:.2f}x)" if ratio_key else ""
        value = results[key]
        shown = f"{value:,.2f}" if unit == "ms" else f"{value:,.0f}"
        lines.append(f"{label:<44} {shown:>12} {unit:<8}{ratio:<10} {target}".rstrip())
    loop = "uvloop" if results.get("uvloop") else "asyncio"
    lines.append(f"(bench clients and echo server on {loop}; latency subscriber in its own "
                 "process)")
    return "\n".join(lines)


@click.command("queue")
@click.option("--seconds", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
              help="How long each measurement runs.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Print a table or one JSON object.")
@click.option("--uvloop/--no-uvloop", "use_uvloop", default=_uvloop_available(),
              show_default="on when uvloop is installed",
              help="Run the bench's clients and echo server on uvloop (and ask the queue "
                   "server to, through MESHQ_UVLOOP=1).")
@click.option("--backlog", type=click.IntRange(0, 100_000_000), default=0, show_default=True,
              metavar="N",
              help="Instead of the throughput run: queue N messages of ~200 bytes, restart "
                   "the server, and report RSS per message, restart time and the drain rate "
                   "at that depth against a shallow queue (N rounded down to 100s).")
def queue_bench(seconds: float, output: str, use_uvloop: bool, backlog: int) -> None:
    """Queue throughput and latency against a real server, with the raw gRPC ceiling.

    Starts a bare gRPC echo server and `meshq serve queue` (temp data dir, SQLite with fsync)
    as child processes, then measures unbatched Send, batched end-to-end, latency at 1,000
    msg/s and Receive vs Subscribe. Figures on a busy machine are noisy.
    """
    def log(line: str) -> None:
        if output == "table":
            click.echo(line, err=True)

    os.environ[UVLOOP_ENV] = "1" if use_uvloop else "0"  # inherited by the child processes
    if backlog:
        backlog -= backlog % BATCH
        if backlog <= 0:
            raise click.BadParameter(f"must be at least {BATCH}", param_hint="--backlog")
        figures = _run(run_backlog(backlog, log))
        click.echo(json.dumps(figures, indent=2) if output == "json"
                   else _backlog_table(figures))
        return
    results = _run(run_all(seconds, log))
    results["uvloop"] = float(use_uvloop)
    if output == "json":
        click.echo(json.dumps(results, indent=2))
    else:
        click.echo(_table(results))


if __name__ == "__main__":
    if sys.argv[1:2] == ["subscriber"]:
        _run(_subscriber(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        _echo_main()
