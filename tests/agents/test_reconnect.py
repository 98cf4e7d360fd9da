"""The server goes away mid-work and comes back on the same port: nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.conftest import eventually, local_server
from agents.test_worker_delivery import RecordingWorker, depth
from meshq.agents.observer import WorkerObserver
from meshq.agents.retry import ReconnectPolicy
from meshq.api.rooms import RoomClient

CAP = 0.3  # the injected reconnect cap: small so the test stays fast


class Retries(WorkerObserver):
    def __init__(self) -> None:
        self.backoffs: list[float] = []

    def receive_retry(self, queue: str, backoff_seconds: float) -> None:
        self.backoffs.append(backoff_seconds)


async def test_worker_reconnects_with_capped_jittered_backoff_and_loses_nothing(
        tmp_path: Path, unique: str) -> None:
    # Given a server with 30 jobs, and a worker holding two of them behind a gate
    first = local_server(tmp_path)
    server = await first.__aenter__()
    port = server.address.rsplit(":", 1)[1]
    retries = Retries()
    async with RoomClient(room=unique, server=server.address, timeout=2) as room:
        await room.queues.send_many(unique, [{"n": n} for n in range(30)])
        worker = RecordingWorker(unique, concurrency=2, observer=retries,
                                 reconnect=ReconnectPolicy(initial_delay=0.02, max_delay=CAP,
                                                           healthy_after=1.0))
        worker.gate = asyncio.Event()
        await worker.start(room)
        await eventually(lambda: worker.running == 2, what="two held jobs")

        # When the server goes down and the worker has retried several times
        await first.__aexit__(None, None, None)
        await eventually(lambda: len(retries.backoffs) >= 6, what="6 reconnect attempts")
        worker.gate.set()  # the held jobs finish while the server is down: their acks fail

        # Then every wait was jittered under the cap; and when the server is back on the
        # same port (same SQLite file), every job gets done
        assert all(0.0 <= b <= CAP for b in retries.backoffs)
        assert len(set(retries.backoffs)) > 1
        async with local_server(tmp_path, listen=f"127.0.0.1:{port}"):
            await eventually(lambda: {m["n"] for m in worker.seen} == set(range(30)),
                             timeout=30, what="all 30 jobs seen")
            await eventually(lambda: _empty(room, unique), timeout=30, what="an empty queue")
            assert worker.stats.handed_back >= 2
            await worker.stop()


async def _empty(room: RoomClient, queue: str) -> bool:
    return await depth(room, queue) == {"depth": 0, "in_flight": 0, "delayed": 0}
