"""SIGKILL a real `meshq up` during a burst of sends: replied sends survive, acks stay acked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from meshq_child import listening_address

from meshq.v1 import queues_pb2 as pb
from meshq.v1 import queues_pb2_grpc

pytestmark = pytest.mark.slow

MESHQ = Path(sys.executable).with_name("meshq")
ROOM, QUEUE = "kill-room", "burst"
SENDERS = 8
SERVE = ("up",)  # the whole stack, as a user runs it
KILL_AFTER = 400  # replied messages before the kill
CALL_TIMEOUT = 10.0


class Server:
    """A `meshq up` child process on a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.address = ""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(MESHQ), *SERVE, "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
        assert self.proc.stdout is not None
        self.address = await listening_address(self.proc.stdout, 60)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        token_file = self.data_dir / "admin.token"
        if token_file.exists():
            return (("authorization", "Bearer " + token_file.read_text().strip()),)
        return ()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv = Server(tmp_path / "data")
    try:
        yield srv
    finally:
        await srv.kill()


async def _sender(stub: queues_pb2_grpc.QueueServiceStub, md: tuple[tuple[str, str], ...],
                  index: int, replied: dict[str, str], enough: asyncio.Event) -> None:
    """Send batches of 1-4 until the server dies; remember every message that got a reply."""
    k = 0
    while True:
        size = 1 + k % 4
        bodies = [json.dumps({"sender": index, "n": k + j}) for j in range(size)]
        k += size
        request = pb.SendRequest(room=ROOM, queue=QUEUE,
                                 messages=[pb.OutgoingMessage(json=b) for b in bodies])
        try:
            reply = await stub.Send(request, metadata=md, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError:
            return
        for result, body in zip(reply.results, bodies, strict=True):
            replied[result.message_id] = body
        if len(replied) >= KILL_AFTER:
            enough.set()


async def _drain(stub: queues_pb2_grpc.QueueServiceStub,
                 md: tuple[tuple[str, str], ...]) -> list[pb.Delivery]:
    got: list[pb.Delivery] = []
    while True:
        reply = await stub.Receive(pb.ReceiveRequest(room=ROOM, queue=QUEUE, max_messages=500,
                                                     auto_ack=True),
                                   metadata=md, timeout=CALL_TIMEOUT)
        if not reply.deliveries:
            return got
        got.extend(reply.deliveries)


async def test_sigkill_mid_burst_loses_no_replied_send_and_revives_no_ack(server: Server) -> None:
    # Given a server with acked and unacked messages in a queue
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = queues_pb2_grpc.QueueServiceStub(channel)
        md = server.metadata
        await stub.OpenQueue(pb.OpenQueueRequest(room=ROOM, queue=QUEUE), metadata=md,
                             timeout=CALL_TIMEOUT)
        first = await stub.Send(pb.SendRequest(room=ROOM, queue=QUEUE, messages=[
            pb.OutgoingMessage(json=json.dumps({"before": i})) for i in range(20)]),
            metadata=md, timeout=CALL_TIMEOUT)
        leased = (await stub.Receive(pb.ReceiveRequest(room=ROOM, queue=QUEUE, max_messages=20,
                                                       lease_seconds=600),
                                     metadata=md, timeout=CALL_TIMEOUT)).deliveries
        assert len(leased) == 20
        acked = await stub.Ack(pb.AckRequest(room=ROOM, queue=QUEUE,
                                             lease_tokens=[d.lease_token for d in leased[:10]]),
                               metadata=md, timeout=CALL_TIMEOUT)
        assert [r.outcome for r in acked.results] == [pb.SETTLE_OUTCOME_OK] * 10
        acked_ids = {d.message_id for d in leased[:10]}

        # When concurrent senders are mid-burst and the server is SIGKILLed
        replied: dict[str, str] = {r.message_id: "" for r in first.results}
        replied = {mid: "" for mid in replied if mid not in acked_ids}
        enough = asyncio.Event()
        senders = [asyncio.create_task(_sender(stub, md, i, replied, enough))
                   for i in range(SENDERS)]
        async with asyncio.timeout(60):
            await enough.wait()
        await server.kill()
        async with asyncio.timeout(30):
            await asyncio.gather(*senders)
    burst = {mid: body for mid, body in replied.items() if body}

    # Then after a restart every replied send is there exactly once and no ack came undone
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        drained = await _drain(queues_pb2_grpc.QueueServiceStub(channel), server.metadata)
    ids = [d.message_id for d in drained]
    assert len(ids) == len(set(ids)), "a message came back twice"
    assert not acked_ids & set(ids), "an acked message came back"
    missing = set(replied) - set(ids)
    assert not missing, f"{len(missing)} replied sends were lost"
    by_id = {d.message_id: d.json for d in drained}
    assert all(by_id[mid] == body for mid, body in burst.items())
    assert len(burst) >= KILL_AFTER - 20
