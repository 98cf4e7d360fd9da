"""A Worker over a real server: acks, nacks, dead-letters, concurrency, stop, redelivery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc

from agents.conftest import eventually
from meshq.agents.chat import ChatContext
from meshq.agents.observer import WorkerObserver
from meshq.agents.retry import ReconnectPolicy, RetryPolicy
from meshq.agents.worker import Worker
from meshq.api.rooms import RoomClient

FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)


class Outcomes(WorkerObserver):
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        self.outcomes.append(outcome)


class RecordingWorker(Worker):
    """Plain-Python work: records each message; fails while ``message["fail"]`` is true."""

    def __init__(self, queue: str, **kwargs: Any) -> None:
        super().__init__(queue=queue, retry=FAST_RETRY, **kwargs)
        self.seen: list[Any] = []
        self.running = 0
        self.most_running = 0
        self.gate: asyncio.Event | None = None
        self.job_started = asyncio.Event()

    async def process_message(self, *, chat_context: ChatContext, room: Any, message: Any,
                              toolkits: Any) -> Any:
        self.seen.append(message)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.job_started.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if message.get("fail"):
                raise RuntimeError(f"job {message.get('n')} cannot be done")
            return message
        finally:
            self.running -= 1


async def depth(room: RoomClient, queue: str) -> dict[str, int]:
    for info in await room.queues.list():
        if info.name == queue:
            return {"depth": info.depth, "in_flight": info.in_flight, "delayed": info.delayed}
    return {"depth": 0, "in_flight": 0, "delayed": 0}


async def test_jobs_are_done_and_acked_with_credit_equal_to_concurrency(
        room: RoomClient, unique: str) -> None:
    # Given 12 jobs and a worker with concurrency 4 whose jobs wait on a gate
    await room.queues.send_many(unique, [{"n": i} for i in range(12)])
    worker = RecordingWorker(unique, concurrency=4)
    worker.gate = asyncio.Event()
    await worker.start(room)
    # When 4 are running, none more start; then the gate opens
    await eventually(lambda: worker.running == 4, what="4 running jobs")
    assert (await depth(room, unique))["in_flight"] == 4
    worker.gate.set()
    # Then every job is done once and the queue is empty
    await eventually(lambda: worker.stats.done == 12, what="12 jobs done")
    await worker.stop()
    assert sorted(m["n"] for m in worker.seen) == list(range(12))
    assert worker.most_running == 4
    assert await depth(room, unique) == {"depth": 0, "in_flight": 0, "delayed": 0}


async def test_a_job_that_always_fails_is_dead_lettered_with_its_error(
        room: RoomClient, unique: str) -> None:
    # Given a queue that allows 3 deliveries, one poison job and one good job
    await room.queues.open(unique, max_deliveries=3)
    await room.queues.send(unique, {"n": 1, "fail": True})
    await room.queues.send(unique, {"n": 2})
    observer = Outcomes()
    worker = RecordingWorker(unique, observer=observer)
    await worker.start(room)
    # When the worker has tried the poison job 3 times
    dlq = unique + ".dlq"
    await eventually(lambda: _has_messages(room, dlq), what="a dead-lettered message")
    await eventually(lambda: worker.stats.done == 1, what="the good job")
    await worker.stop()
    # Then it sits in the DLQ with the error, and the worker went on with the good job
    [dead] = await room.queues.peek(dlq)
    assert dead.body == {"n": 1, "fail": True}
    assert "RuntimeError: job 1 cannot be done" in dead.headers["x-meshq-last-error"]
    assert worker.stats.failed == 3
    assert observer.outcomes.count("failed") == 3 and observer.outcomes.count("ok") == 1
    assert worker.stats.last_error == "RuntimeError: job 1 cannot be done"


async def _has_messages(room: RoomClient, queue: str) -> bool:
    try:
        return bool(await room.queues.peek(queue))
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:  # the DLQ is made on first use
            return False
        raise


async def test_text_payloads_and_raising_hooks_are_handled(room: RoomClient,
                                                           unique: str) -> None:
    # Given a worker whose decode hook raises on one payload
    class Picky(RecordingWorker):
        def decode_message(self, message: Any) -> Any:
            if message == "explode":
                raise ValueError("cannot decode")
            return super().decode_message(message)

    await room.queues.open(unique, max_deliveries=1)
    await room.queues.send_many(unique, ["explode", "write a poem"])
    worker = Picky(unique)
    await worker.start(room)
    # When both are delivered
    await eventually(lambda: worker.stats.done == 1 and worker.stats.failed == 1,
                     what="one done, one failed")
    await eventually(lambda: _has_messages(room, unique + ".dlq"), what="the dead letter")
    await worker.stop()
    # Then text was wrapped as a prompt, and the raising hook's job was dead-lettered
    assert worker.seen == [{"prompt": "write a poem"}]
    [dead] = await room.queues.peek(unique + ".dlq")
    assert dead.headers["x-meshq-last-error"] == "ValueError: cannot decode"


async def test_stop_when_idle_returns_at_once(room: RoomClient, unique: str) -> None:
    worker = RecordingWorker(unique)
    await worker.start(room)
    await room.queues.send(unique, {"n": 1})
    await eventually(lambda: worker.stats.done == 1, what="one job")
    began = time.monotonic()
    await worker.stop()
    assert time.monotonic() - began < 1.0
    await worker.stop()  # twice is fine


async def test_stop_hands_back_what_outlives_the_grace(room: RoomClient, unique: str) -> None:
    # Given a job that never finishes on worker A
    await room.queues.send(unique, {"n": 7})
    a = RecordingWorker(unique, stop_grace=0.2)
    a.gate = asyncio.Event()
    await a.start(room)
    await a.job_started.wait()
    # When A stops, the job is handed back; worker B then does it
    await a.stop()
    assert a.stats.handed_back == 1 and a.stats.done == 0
    b = RecordingWorker(unique)
    async with b.serving(room):
        await eventually(lambda: b.stats.done == 1, what="B finishing the job")
    assert b.seen == [{"n": 7}]


async def test_a_worker_that_drops_mid_job_loses_nothing(mq: Any, unique: str) -> None:
    # Given worker A holding a job on its own connection, and an idle worker B
    async with RoomClient(room=unique, server=mq.address, token=mq.token or None) as room_a, \
            RoomClient(room=unique, server=mq.address, token=mq.token or None) as room_b:
        await room_b.queues.send(unique, {"n": 1})
        a = RecordingWorker(unique, reconnect=ReconnectPolicy(initial_delay=60, max_delay=60))
        a.gate = asyncio.Event()
        await a.start(room_a)
        await a.job_started.wait()
        b = RecordingWorker(unique)
        await b.start(room_b)
        # When A's connection dies mid-job (as when its process is killed)
        await room_a.connection.close()
        # Then the job is redelivered to B (attempt 2) and finished there
        await eventually(lambda: b.stats.done == 1, what="B finishing A's job")
        assert b.seen == [{"n": 1}]
        await b.stop()
        await a.stop(grace=0)
        assert a.stats.done == 0


async def test_a_job_longer_than_its_lease_is_extended_not_redelivered(
        room: RoomClient, unique: str) -> None:
    # Given a lease of 0.5 s and a job that holds for 3 leases
    worker = RecordingWorker(unique, lease_seconds=0.5)
    worker.gate = asyncio.Event()
    await worker.start(room)
    message_id = await room.queues.send(unique, {"n": 1})
    await worker.job_started.wait()
    loop = asyncio.get_running_loop()
    loop.call_later(1.5, worker.gate.set)  # the job's own duration, not a wait for state
    # When it finishes, Then it was delivered once and acked
    await eventually(lambda: worker.stats.done == 1, what="the long job")
    await worker.stop()
    assert len(worker.seen) == 1
    status = await room.queues.message_state(unique, message_id)
    assert status.state == "gone"


async def test_async_with_a_room_given_to_the_constructor(room: RoomClient, unique: str) -> None:
    async with RecordingWorker(unique, room=room) as worker:
        assert worker.room is room and worker.is_running
        await room.queues.send(unique, "hello")
        await eventually(lambda: worker.stats.done == 1, what="the job")
    assert not worker.is_running
    assert worker.seen == [{"prompt": "hello"}]
