"""`meshq bench postgres`: the PostgreSQL tier against the raw asyncpg ceilings, in one run.

On one database (``--database-url``, or a throwaway cluster started from the installed
binaries, fsync on): first what asyncpg alone does on this machine (64 concurrent single-row
INSERT commits, COPY of 1,000-row batches, SKIP LOCKED claims of 100 with a batched delete
by 4 consumers), then meshq through one replica and through two (`meshq up --database-url`
child processes sharing an API key): batched end to end, unbatched Send with 64 senders,
enqueue -> delivery at 500 msg/s (sent through the first replica, consumed through the
last), and each replica's RSS over a large backlog.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import click
import grpc

from meshq.bench.queue import BATCH, BODY, ROOM, Bench
from meshq.security.keys import mint_admin_token, new_api_key
from meshq.v1 import queues_pb2 as pb

RAW_CALLERS = 64  # concurrent single-row INSERT commits
COPY_ROWS = 1000
COPIERS = 4
CLAIM = 100
CLAIMERS = 4
SENDERS = 64  # unbatched Send
PRODUCERS = 4  # batched senders in the end-to-end phase (split over the replicas)
LATENCY_RATE = 500  # msg/s
DEFAULT_BACKLOG = 200_000


async def rate_for(seconds: float, callers: int, call: Callable[[], Awaitable[int]]) -> float:
    """Run ``callers`` loops of ``call`` (each returns how many it did) for ``seconds``."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            n = await call()
            done += n

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(callers)))
    return done / (time.perf_counter() - started)


# -- raw ceilings ---------------------------------------------------------------------------

async def _no_reset(conn: asyncpg.Connection) -> None:
    """No session reset on release (as meshq's pool): psycopg's pool does none either, so the
    drivers are compared on the statements alone."""


RAW_TABLE = ("CREATE TABLE IF NOT EXISTS raw_q (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, "
             "enqueued_at DOUBLE PRECISION NOT NULL DEFAULT 0)")


async def raw_insert(url: str, seconds: float) -> float:
    """64 callers, each a single-row INSERT in its own transaction (a durable commit each)."""
    async with asyncpg.create_pool(url, min_size=RAW_CALLERS, max_size=RAW_CALLERS,
                                   reset=_no_reset) as pool:
        await pool.execute(RAW_TABLE)

        async def one() -> int:
            await pool.execute("INSERT INTO raw_q (body) VALUES ($1)", BODY)
            return 1

        return await rate_for(seconds, RAW_CALLERS, one)


async def raw_copy(url: str, seconds: float) -> float:
    """COPY of 1,000-row batches from 4 connections: rows/s."""
    rows = [(BODY,)] * COPY_ROWS
    async with asyncpg.create_pool(url, min_size=COPIERS, max_size=COPIERS, reset=_no_reset) as pool:
        await pool.execute(RAW_TABLE)

        async def one() -> int:
            async with pool.acquire() as conn:
                await conn.copy_records_to_table("raw_q", records=rows, columns=["body"])
            return COPY_ROWS

        return await rate_for(seconds, COPIERS, one)


async def raw_claim(url: str, seconds: float) -> float:
    """4 consumers: claim 100 with FOR UPDATE SKIP LOCKED, delete them, commit: msg/s."""
    async with asyncpg.create_pool(url, min_size=CLAIMERS, max_size=CLAIMERS, reset=_no_reset) as pool:
        await pool.execute(RAW_TABLE)
        have = await pool.fetchval("SELECT count(*) FROM raw_q")
        want = int(seconds * 60_000)
        if have < want:
            rows = [(BODY,)] * 10_000
            for _ in range((want - have) // 10_000 + 1):
                await pool.copy_records_to_table("raw_q", records=rows, columns=["body"])

        async def one() -> int:
            async with pool.acquire() as conn, conn.transaction():
                ids = await conn.fetch("SELECT id FROM raw_q ORDER BY id LIMIT $1 FOR UPDATE "
                                       "SKIP LOCKED", CLAIM)
                await conn.execute("DELETE FROM raw_q WHERE id = ANY($1)",
                                   [r["id"] for r in ids])
            return len(ids)

        return await rate_for(seconds, CLAIMERS, one)


async def psycopg_insert(url: str, seconds: float) -> float:
    """The same single-row INSERT ceiling through psycopg 3's async pool (the comparison
    behind the choice of driver, docs/postgres.md)."""
    from psycopg_pool import AsyncConnectionPool

    dsn, _, query = url.partition("?")
    options = f"-c search_path={query.split('=', 1)[1]}" if query.startswith("search_path=") \
        else ""
    async with AsyncConnectionPool(dsn, min_size=RAW_CALLERS, max_size=RAW_CALLERS,
                                   kwargs={"autocommit": True, "options": options},
                                   open=False) as pool:
        await pool.open(wait=True)

        async def one() -> int:
            async with pool.connection() as conn:
                await conn.execute("INSERT INTO raw_q (body) VALUES (%s)", (BODY,))
            return 1

        return await rate_for(seconds, RAW_CALLERS, one)


async def compare_drivers(url: str, seconds: float, rounds: int = 3) -> tuple[float, float]:
    """Medians of ``rounds`` alternating runs of each driver's INSERT ceiling: alternating
    keeps a shared machine's load drift from favouring one of them."""
    import statistics

    a: list[float] = []
    p: list[float] = []
    for _ in range(rounds):
        a.append(await raw_insert(url, seconds))
        p.append(await psycopg_insert(url, seconds))
    return statistics.median(a), statistics.median(p)


# -- replicas -------------------------------------------------------------------------------

class Replica:
    """A `meshq up --database-url` child process."""

    def __init__(self, name: str, root: Path, url: str, key_file: Path) -> None:
        self.name, self.root, self.url, self.key_file = name, root, url, key_file
        self.proc: asyncio.subprocess.Process | None = None
        self.address = ""

    async def start(self) -> Replica:
        meshq = Path(sys.executable).with_name("meshq")
        self.proc = await asyncio.create_subprocess_exec(
            str(meshq), "up", "--data-dir", str(self.root / self.name), "--listen",
            "127.0.0.1:0", "--metrics-listen", "", "--studio-listen", "", "--pool-backend", "asyncio",
            "--database-url", self.url, "--api-key-file", str(self.key_file),
            "--replica-id", self.name, "--max-depth", "100000000",
            stdout=asyncio.subprocess.PIPE, stderr=self._log())
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise click.ClickException(f"{self.name} exited before it was ready")
                if "listening on" in line:
                    self.address = line.rsplit(" ", 1)[1].strip()
                    return self

    def _log(self) -> Any:
        """The replica's stderr goes to ``<root>/<name>.log`` (kept with MESHQ_BENCH_KEEP=1)."""
        return open(self.root / f"{self.name}.log", "ab")  # noqa: SIM115 - the child owns it

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def two_replica_e2e(benches: list[Bench], seconds: float) -> float:
    """Batched producers split over the replicas, one Subscribe stream on each: acked/s."""
    for b in benches:
        await b.open("e2e2")
    acked = 0
    stop = asyncio.Event()

    def count(frame: Any) -> None:
        nonlocal acked
        acked += len(frame.deliveries)

    consumers = [asyncio.create_task(b.subscribe("e2e2", 2000, count, stop)) for b in benches]
    turn = 0

    async def producer() -> int:
        nonlocal turn
        turn += 1
        await benches[turn % len(benches)].send("e2e2", [BODY] * BATCH)
        return BATCH

    started = time.perf_counter()
    await rate_for(seconds, PRODUCERS, producer)
    rate = acked / (time.perf_counter() - started)
    stop.set()
    await asyncio.gather(*consumers)
    return rate


async def two_replica_unbatched(benches: list[Bench], seconds: float) -> float:
    await benches[0].open("unbatched2")
    request = pb.SendRequest(room=ROOM, queue="unbatched2",
                             messages=[pb.OutgoingMessage(json=BODY)])
    turn = 0

    async def one() -> int:
        nonlocal turn
        turn += 1
        b = benches[turn % len(benches)]
        await b.stub.Send(request, metadata=b.md)
        return 1

    return await rate_for(seconds, SENDERS, one)


async def backlog_rss(benches: list[Bench], replicas: list[Replica], n: int,
                      fill: str = "send") -> list[float]:
    """Fill ``n`` messages, then make every replica serve from that queue (a Subscribe stream
    on each consumes and acks ``SERVE`` of them, and more are sent through each), then each
    one's RSS. ``fill`` "send": batches of 100 through every replica; "copy": COPY straight
    into the replicas' table (ten million take minutes, not an hour)."""
    await benches[0].open("backlog")
    if fill == "copy":
        await copy_backlog(replicas[0].url, n)
    else:
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem:
                await benches[i % len(benches)].send("backlog", [BODY] * BATCH)

        await asyncio.gather(*(one(i) for i in range(n // BATCH)))
    share = served_share(n, len(benches))
    for b in benches:
        await b.send("backlog", [BODY] * BATCH)
        await b.consume("backlog", share, timeout=300)
    return [r.rss_mb() for r in replicas]


SERVE = 5000  # messages each replica delivers from the backlog before its RSS is read
COPY_BATCH = 20_000


async def copy_backlog(url: str, n: int) -> None:
    """COPY ``n`` ready messages into the backlog queue, as Send would store them."""
    from meshq.postgres.messages import new_id

    async with asyncpg.create_pool(url, min_size=COPIERS, max_size=COPIERS,
                                   reset=_no_reset) as pool:
        left = n
        sem = asyncio.Semaphore(COPIERS)

        async def one(size: int) -> None:
            async with sem, pool.acquire() as conn:
                now = time.time()
                rows = [(new_id(), ROOM, "backlog", BODY, "{}", now, 0.0) for _ in range(size)]
                await conn.copy_records_to_table(
                    "q_messages", records=rows, columns=["id", "room", "queue", "body",
                                                         "headers_json", "enqueued_at",
                                                         "ready_at"])

        sizes = []
        while left > 0:
            sizes.append(min(COPY_BATCH, left))
            left -= sizes[-1]
        await asyncio.gather(*(one(size) for size in sizes))
        await pool.execute("VACUUM ANALYZE q_messages")


def served_share(n: int, replicas: int) -> int:
    """How many of a backlog of ``n`` each replica serves: ``SERVE``, or less, so that most
    of the backlog stays queued."""
    return min(SERVE, n // (2 * replicas))


# -- the run --------------------------------------------------------------------------------

async def fresh_schema_url(url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}search_path={name}"


async def run_all(url: str, seconds: float, backlog: int, drivers: bool,
                  log: Callable[[str], None], fill: str = "send") -> dict[str, float]:
    r: dict[str, float] = {}
    raw = await fresh_schema_url(url)
    log("raw asyncpg: single-row INSERT commits (64 callers)...")
    r["raw_insert"] = await raw_insert(raw, seconds)
    if drivers:
        log("drivers: asyncpg and psycopg 3 INSERTs, alternating, 3 rounds each...")
        r["asyncpg_insert"], r["psycopg_insert"] = await compare_drivers(raw, seconds)
    log("raw asyncpg: COPY of 1,000-row batches...")
    r["raw_copy"] = await raw_copy(raw, seconds)
    log("raw asyncpg: SKIP LOCKED claim of 100 + delete, 4 consumers...")
    r["raw_claim"] = await raw_claim(raw, seconds)
    root = Path(tempfile.mkdtemp(prefix="meshq-bench-pg-"))
    try:
        key = new_api_key()
        key_file = root / "api_key"
        key_file.write_text(key)
        key_file.chmod(0o600)
        md = (("authorization", "Bearer " + mint_admin_token(key)),)
        schema = await fresh_schema_url(url)
        replicas = [Replica(f"bench-{i}", root, schema, key_file) for i in range(2)]
        try:
            await replicas[0].start()
            await _measure(replicas, md, seconds, backlog, r, log, fill)
        finally:
            for replica in replicas:
                await replica.stop()
    finally:
        if os.environ.get("MESHQ_BENCH_KEEP"):
            log(f"replica logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return r


async def _measure(replicas: list[Replica], md: Any, seconds: float, backlog: int,
                   r: dict[str, float], log: Callable[[str], None], fill: str) -> None:
    one = grpc.aio.insecure_channel(replicas[0].address)
    try:
        b1 = Bench(one, md)
        log("meshq, one replica: batched end to end...")
        r["e2e_1"] = await b1.end_to_end(seconds)
        log("meshq, one replica: unbatched Send, 64 senders...")
        r["unbatched_1"] = await b1.unbatched_send(seconds)
        log("meshq, one replica: latency at 500 msg/s...")
        r["p50_1"], r["p99_1"], _ = await b1.latency(replicas[0].address, seconds,
                                                     rate=LATENCY_RATE)
        await replicas[1].start()
        two = grpc.aio.insecure_channel(replicas[1].address)
        try:
            b2 = Bench(two, md)
            log("meshq, two replicas: batched end to end...")
            r["e2e_2"] = await two_replica_e2e([b1, b2], seconds)
            log("meshq, two replicas: unbatched Send, 64 senders...")
            r["unbatched_2"] = await two_replica_unbatched([b1, b2], seconds)
            log("meshq, two replicas: latency at 500 msg/s (sent via one, consumed via the "
                "other)...")
            r["p50_2"], r["p99_2"] = await _cross_latency(b1, replicas[1].address, seconds)
            log("meshq, two replicas: closed-loop latency at 200 msg/s, via one to the other...")
            r["p50_c"], r["p99_c"] = await closed_loop_latency(b1, b2, seconds)
            log(f"meshq, two replicas: RSS with a backlog of {backlog:,} (filled by {fill}), "
                f"each serving {served_share(backlog, len(replicas)):,} of it...")
            rss = await backlog_rss([b1, b2], replicas, backlog, fill)
            r["backlog"] = float(backlog)
            r["rss_1"], r["rss_2"] = rss
        finally:
            await two.close()
    finally:
        await one.close()


async def closed_loop_latency(sender: Bench, consumer: Bench, seconds: float,
                              rate: float = 200.0) -> tuple[float, float]:
    """One Send at a time through ``sender`` (paced at ``rate``), a Subscribe stream on
    ``consumer``: enqueue call start -> delivery, p50 and p99 in ms. Unlike the open-loop
    figure it never measures a queue of sends waiting in the client."""
    import statistics

    await sender.open("closed")
    samples: list[float] = []
    stop = asyncio.Event()

    def stamp(frame: Any) -> None:
        now = time.perf_counter()
        samples.extend(now - json.loads(d.json)["t"] for d in frame.deliveries)

    reader = asyncio.create_task(consumer.subscribe("closed", 100, stamp, stop))
    await asyncio.sleep(0.5)  # the stream is open
    n = int(seconds * rate)
    for _ in range(n):
        await sender.send("closed", [json.dumps({"t": time.perf_counter()})])
        await asyncio.sleep(1 / rate)
    async with asyncio.timeout(30):
        while len(samples) < n:
            await asyncio.sleep(0.05)
    stop.set()
    await reader
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[98] * 1000


async def _cross_latency(sender: Bench, consumer_address: str,
                         seconds: float) -> tuple[float, float]:
    """Sends through one replica, the latency subscriber (a child process) on another."""
    p50, p99, _ = await sender.latency(consumer_address, seconds, rate=LATENCY_RATE)
    return p50, p99


ROWS = [
    ("raw asyncpg: single-row INSERT commits, 64", "raw_insert", "rows/s", ""),
    ("drivers: asyncpg INSERT commits, median of 3", "asyncpg_insert", "rows/s", ""),
    ("drivers: psycopg 3 INSERT commits, median of 3", "psycopg_insert", "rows/s",
     "asyncpg_insert"),
    ("raw asyncpg: COPY, 1,000-row batches", "raw_copy", "rows/s", ""),
    ("raw asyncpg: SKIP LOCKED claim 100 + delete, 4", "raw_claim", "msg/s", ""),
    ("meshq 1 replica: batched end to end", "e2e_1", "msg/s", "raw_claim"),
    ("meshq 1 replica: unbatched Send, 64 senders", "unbatched_1", "msg/s", "raw_insert"),
    ("meshq 1 replica: enqueue->delivery p50 @500/s", "p50_1", "ms", ""),
    ("meshq 1 replica: enqueue->delivery p99 @500/s", "p99_1", "ms", ""),
    ("meshq 2 replicas: batched end to end", "e2e_2", "msg/s", "raw_claim"),
    ("meshq 2 replicas: unbatched Send, 64 senders", "unbatched_2", "msg/s", "raw_insert"),
    ("meshq 2 replicas: p50, sent via 1, read via 2", "p50_2", "ms", ""),
    ("meshq 2 replicas: p99, sent via 1, read via 2", "p99_2", "ms", ""),
    ("meshq 2 replicas: closed-loop p50 @200/s, 1 to 2", "p50_c", "ms", ""),
    ("meshq 2 replicas: closed-loop p99 @200/s, 1 to 2", "p99_c", "ms", ""),
    ("backlog (messages)", "backlog", "msgs", ""),
    ("replica 1 RSS with the backlog", "rss_1", "MB", ""),
    ("replica 2 RSS with the backlog", "rss_2", "MB", ""),
]


def table(r: dict[str, float]) -> str:
    lines = []
    for label, key, unit, ratio_of in ROWS:
        if key not in r:
            continue
        value = r[key]
        shown = f"{value:,.2f}" if unit in ("ms", "MB") else f"{value:,.0f}"
        ratio = f"  ({value / r[ratio_of]:.2f}x {ratio_of})" if ratio_of and r.get(ratio_of) else ""
        lines.append(f"{label:<48} {shown:>12} {unit:<7}{ratio}")
    return "\n".join(lines)


@click.command("postgres")
@click.option("--database-url", envvar="MESHQ_BENCH_DATABASE_URL", default="",
              help="Benchmark this database (new schemas are created in it) [env "
                   "MESHQ_BENCH_DATABASE_URL; default: a throwaway cluster from the installed "
                   "PostgreSQL binaries]")
@click.option("--seconds", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
              help="How long each measurement runs.")
@click.option("--backlog", type=click.IntRange(1000), default=DEFAULT_BACKLOG,
              show_default=True, help="Messages left in a queue for the RSS figure.")
@click.option("--fill", type=click.Choice(["send", "copy"]), default="send",
              show_default=True, help="How the backlog is filled: Send through the replicas, "
                                      "or COPY straight into their table (for ten million).")
@click.option("--drivers", is_flag=True,
              help="Also measure the INSERT ceiling through psycopg 3 (needs psycopg_pool).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Print a table or one JSON object.")
def postgres_bench(database_url: str, seconds: float, backlog: int, fill: str,
                   drivers: bool, output: str) -> None:
    """The PostgreSQL tier: raw asyncpg ceilings, then meshq through one and two replicas.

    Figures on a shared, busy machine are noisy; docs/benchmarks.md has the command, the
    figures and the load average they were taken at.
    """
    def log(line: str) -> None:
        if output == "table":
            click.echo(line, err=True)

    cluster = None
    if not database_url:
        from meshq.postgres.cluster import PgCluster

        try:
            cluster = PgCluster().init()
            cluster.start()
        except RuntimeError as err:
            raise click.ClickException(str(err)) from None
        database_url = cluster.dsn
    try:
        results = asyncio.run(run_all(database_url, seconds, backlog, drivers, log, fill))
    finally:
        if cluster is not None:
            cluster.cleanup()
    results["loadavg_1m"] = os.getloadavg()[0]
    if output == "json":
        click.echo(json.dumps(results, indent=2))
    else:
        click.echo(table(results))
        click.echo(f"(load average at the end: {results['loadavg_1m']:.2f})")
