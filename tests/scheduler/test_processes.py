"""Against real processes: a queue server, and the scheduler alone sending to it over gRPC,
SIGKILLed again and again around the fires of a 1-second schedule.

The queue must hold exactly one message per scheduled instant and the ledger must account
for every instant. Both processes share the deployment's API key (the scheduler's data dir
gets a copy), so the scheduler's admin token is valid at the queue server.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from meshq.api.connection import Connection
from meshq.api.scheduler import SchedulerClient
from meshq.scheduler.cron import iso_ms
from meshq.scheduler.model import RunOutcome
from meshq.scheduler.sqlite_store import SqliteScheduleStore
from meshq.v1 import queues_pb2, queues_pb2_grpc, rooms_pb2, rooms_pb2_grpc

pytestmark = pytest.mark.slow
MESHQ = str(Path(sys.executable).with_name("meshq"))
FIRES = 60


class Proc:
    """A meshq server process and the address it announced."""

    def __init__(self, *args: str, log: Path) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen([MESHQ, *args], stdout=subprocess.PIPE, stderr=self.log,
                                     env={**os.environ, "MESHQ_TOKEN": ""})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # blocks until ready, or EOF if it died
        assert "listening on" in line, f"server did not start: {line!r}, see {log}"
        self.address = line.rsplit(" ", 1)[1].strip()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.log.close()


async def test_sigkill_around_fires_keeps_one_message_per_instant(tmp_path: Path) -> None:
    queue_dir, sched_dir = tmp_path / "queue", tmp_path / "sched"
    queue_server = Proc("serve", "queue", "--data-dir", str(queue_dir), "--listen", "127.0.0.1:0",
                        "--metrics-listen", "", log=tmp_path / "queue.log")
    try:
        sched_dir.mkdir()
        for name in ("api_key", "admin.token"):
            shutil.copy2(queue_dir / name, sched_dir / name)
        token = (queue_dir / "admin.token").read_text().strip()
        qconn = Connection(server=queue_server.address, token=token)
        await qconn.stub(rooms_pb2_grpc.RoomServiceStub).CreateRoom(
            rooms_pb2.CreateRoomRequest(name="kill"), metadata=qconn.metadata, timeout=10)

        # The scheduler keeps one port across its restarts, so clients can find it again.
        listen = f"127.0.0.1:{_free_port()}"

        def start_scheduler() -> Proc:
            return Proc("serve", "scheduler", "--queue-server", queue_server.address, "--data-dir",
                        str(sched_dir), "--listen", listen, "--metrics-listen", "",
                        log=tmp_path / "scheduler.log")

        scheduler = start_scheduler()
        sconn = Connection(server=listen, token=token)
        task = await SchedulerClient(sconn).add(room="kill", queue="ticks", schedule="* * * * * *",
                                                payload={"tick": True}, misfire_policy="all",
                                                misfire_cap=1000, catchup_window_seconds=3600)
        await sconn.close()
        first_instant = (task.created_at_unix_ms // 1000 + 1) * 1000
        rng = random.Random(4)
        kills = 0
        # When the scheduler is SIGKILLed again and again, at random points around its fires
        while time.time() * 1000 < first_instant + FIRES * 1000:
            seen = await _wait_depth_growth(qconn, rng.randint(0, 2))
            assert seen, "the scheduler stopped firing"
            scheduler.kill()
            kills += 1
            scheduler = start_scheduler()
        # Every instant up to now is due: wait until the last restart's catch-up enqueued them
        # (a growth of 2 could be met by the catch-up burst itself, one instant short).
        assert await _wait_depth_at_least(qconn, FIRES), "the scheduler did not catch up"
        scheduler.kill(signal.SIGTERM)
        # Then every instant from the first to the last has one ledger row, all enqueued
        store = SqliteScheduleStore(sched_dir / "scheduler.db")
        runs = sorted(store.runs(task.id, 100_000), key=lambda r: r.scheduled_ms)
        store.close()
        instants = [r.scheduled_ms for r in runs]
        assert len(instants) >= FIRES and kills >= 10
        assert instants == list(range(first_instant, instants[-1] + 1, 1000))
        assert Counter(r.outcome for r in runs) == {RunOutcome.ENQUEUED: len(runs)}
        # And the queue holds exactly one message per instant, with the ledger's message ids
        peek = await qconn.stub(queues_pb2_grpc.QueueServiceStub).PeekQueue(
            queues_pb2.PeekQueueRequest(room="kill", queue="ticks", max_messages=1000),
            metadata=qconn.metadata, timeout=10)
        at = Counter(m.headers["x-meshq-scheduled-at"] for m in peek.messages)
        assert at == Counter(iso_ms(ms) for ms in instants)
        assert {m.message_id for m in peek.messages} == {r.message_id for r in runs}
        await qconn.close()
    finally:
        queue_server.kill(signal.SIGTERM)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _depth(conn: Connection) -> int:
    response = await conn.stub(queues_pb2_grpc.QueueServiceStub).ListQueues(
        queues_pb2.ListQueuesRequest(room="kill"), metadata=conn.metadata, timeout=5)
    return sum(q.depth for q in response.queues if q.name == "ticks")


async def _wait_depth_at_least(conn: Connection, target: int, deadline: float = 20.0) -> bool:
    """Poll the queue's depth until it is at least ``target``."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if await _depth(conn) >= target:
            return True
    return False


async def _wait_depth_growth(conn: Connection, grow: int, deadline: float = 20.0) -> bool:
    """Poll the queue's depth until it grew by ``grow`` (0: return at once)."""
    return await _wait_depth_at_least(conn, await _depth(conn) + grow, deadline)
