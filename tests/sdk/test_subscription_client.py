"""The client side of Subscribe against a scripted stream: frame merging and settle deadlines.

The real server answers too quickly to show a settle deadline passing, so here the stream is
a stand-in at the edge (the gRPC call object); everything above it is the real SDK.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from meshq.api.connection import Connection
from meshq.api.messages import StaleLease
from meshq.api.subscription import Subscription
from meshq.v1 import queues_pb2


class ScriptedCall:
    """A Subscribe call: records written frames; reads what the test pushes."""

    def __init__(self) -> None:
        self.written: list[queues_pb2.SubscribeRequest] = []
        self.incoming: asyncio.Queue[Any] = asyncio.Queue()
        self.incoming.put_nowait(queues_pb2.SubscribeResponse())  # the open confirmation
        self.cancelled = False

    async def write(self, frame: queues_pb2.SubscribeRequest) -> None:
        self.written.append(frame)

    async def read(self) -> Any:
        item = await self.incoming.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def done_writing(self) -> None:
        self.incoming.put_nowait(grpc.aio.EOF)

    def cancel(self) -> None:
        self.cancelled = True
        self.incoming.put_nowait(grpc.aio.EOF)


class ScriptedStub:
    def __init__(self, call: ScriptedCall) -> None:
        self.call = call

    def Subscribe(self, metadata: Any = None) -> ScriptedCall:  # noqa: N802 (gRPC's name)
        return self.call


@pytest.fixture
def call(monkeypatch: pytest.MonkeyPatch) -> ScriptedCall:
    scripted = ScriptedCall()
    monkeypatch.setattr(Connection, "stub", lambda self, cls: ScriptedStub(scripted))
    return scripted


def _delivery(token: str) -> queues_pb2.Delivery:
    return queues_pb2.Delivery(message_id="m-" + token, json="1", attempt=1, lease_token=token)


async def test_concurrent_acks_share_one_frame(call: ScriptedCall) -> None:
    conn = Connection(server="127.0.0.1:1", timeout=5)
    async with Subscription(conn, "r", "q", max_in_flight=3, lease=30, create=True) as sub:
        call.incoming.put_nowait(queues_pb2.SubscribeResponse(
            deliveries=[_delivery(t) for t in ("a", "b", "c")]))
        messages = [await anext(sub) for _ in range(3)]
        acks = [asyncio.create_task(m.ack()) for m in messages]
        while len(call.written) < 2:  # the open frame, then one frame with every ack
            await asyncio.sleep(0)
        assert list(call.written[1].ack_tokens) == ["a", "b", "c"]
        call.incoming.put_nowait(queues_pb2.SubscribeResponse(results=[
            queues_pb2.SettleResult(lease_token="a", outcome=queues_pb2.SETTLE_OUTCOME_OK),
            queues_pb2.SettleResult(lease_token="b", outcome=queues_pb2.SETTLE_OUTCOME_STALE),
            queues_pb2.SettleResult(lease_token="c", outcome=queues_pb2.SETTLE_OUTCOME_OK),
        ]))
        outcomes = await asyncio.gather(*acks, return_exceptions=True)
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], StaleLease)


async def test_a_settle_without_an_answer_hits_its_deadline(call: ScriptedCall) -> None:
    conn = Connection(server="127.0.0.1:1", timeout=0.2)
    async with Subscription(conn, "r", "q", max_in_flight=1, lease=30, create=True) as sub:
        call.incoming.put_nowait(queues_pb2.SubscribeResponse(deliveries=[_delivery("a")]))
        message = await anext(sub)
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await message.extend(10)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started >= 0.15


async def test_a_broken_stream_raises_from_the_iterator(call: ScriptedCall) -> None:
    conn = Connection(server="127.0.0.1:1", timeout=5)
    async with Subscription(conn, "r", "q", max_in_flight=1, lease=30, create=True) as sub:
        broken = grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(),
                                      grpc.aio.Metadata(), details="server went away")
        call.incoming.put_nowait(broken)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await anext(sub)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("yields", range(6))
async def test_cancelling_the_open_always_cancels(monkeypatch: pytest.MonkeyPatch,
                                                  yields: int) -> None:
    """However late the cancel lands in the open (even as the confirmation arrives), the
    opening task ends cancelled at once and the stream is cancelled: a Worker's stop() waits on
    that task (asyncio.wait_for on 3.11 returned the result and dropped such a cancel)."""
    scripted = ScriptedCall()
    monkeypatch.setattr(Connection, "stub", lambda self, cls: ScriptedStub(scripted))
    conn = Connection(server="127.0.0.1:1", timeout=5)
    sub = Subscription(conn, "r", "q", max_in_flight=1, lease=30, create=True)
    task = asyncio.create_task(sub.open())
    for _ in range(yields):
        await asyncio.sleep(0)
    if not task.cancel():  # the open finished first: nothing to cancel
        assert (await task) is sub
        await sub.close()
        return
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not sub._tasks and (sub._call is None or scripted.cancelled)


@pytest.mark.parametrize("yields", range(8))
async def test_cancelling_close_is_not_swallowed(call: ScriptedCall, yields: int) -> None:
    conn = Connection(server="127.0.0.1:1", timeout=5)
    sub = await Subscription(conn, "r", "q", max_in_flight=1, lease=30, create=True).open()
    closing = asyncio.create_task(sub.close())
    for _ in range(yields):
        await asyncio.sleep(0)
    if not closing.cancel():
        await closing
        return
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await closing
    if sub._closing:  # the cancel landed inside close(): its tasks were still ended
        assert all(t.done() for t in sub._tasks)
    else:  # cancelled before close() began
        await sub.close()


async def test_the_workers_leaser_extends_every_held_lease_in_one_frame_per_tick(
    call: ScriptedCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshq.agents.leaser import Leaser

    calls: list[list[str]] = []
    real = Subscription.settle_extend_many

    async def counted(self: Subscription, tokens: Any, seconds: float) -> list[bool]:
        calls.append(list(tokens))
        return await real(self, tokens, seconds)

    monkeypatch.setattr(Subscription, "settle_extend_many", counted)
    tokens = [f"t{i}" for i in range(5)]
    conn = Connection(server="127.0.0.1:1", timeout=5)
    async with Subscription(conn, "r", "q", max_in_flight=5, lease=30, create=True) as sub:
        # Given a worker's leaser holding five jobs of one stream
        call.incoming.put_nowait(queues_pb2.SubscribeResponse(
            deliveries=[_delivery(t) for t in tokens]))
        leaser = Leaser(lease_seconds=0.3)
        for _ in tokens:
            leaser.add(await anext(sub))
        leaser.start()
        # When a tick comes (the stand-in stream answers every extension)
        async with asyncio.timeout(5):  # fails here if the leaser settles job by job
            while not calls or not any(f.extends for f in call.written):
                await asyncio.sleep(0.01)
        call.incoming.put_nowait(queues_pb2.SubscribeResponse(results=[
            queues_pb2.SettleResult(lease_token=t, outcome=queues_pb2.SETTLE_OUTCOME_OK)
            for t in tokens]))
        await leaser.stop()
        # Then each tick made one call and wrote one frame carrying every held token
        extend_frames = [f for f in call.written if f.extends]
        assert calls and all(sorted(c) == tokens for c in calls)
        assert len(extend_frames) == len(calls)
        assert all(sorted(e.lease_token for e in f.extends) == tokens for f in extend_frames)
