"""One Subscribe stream, server side: a few small cooperating tasks around a Subscription.

- the *reader* reads consumer frames: window changes apply at once, settle items go to an
  inbox (bounded, so a flooding consumer is pushed back through gRPC flow control);
- the *settler* drains the inbox and applies everything it holds with as few backend calls
  as it can (so many acks share one commit), then queues the SettleResults out;
- the *pump* waits on ``Subscription.next_batch()`` and queues the deliveries out;
- the response generator (``frames``) merges everything queued into as few frames as it can.

When the stream ends for any reason (consumer half-close, cancellation, deadline, error),
``Subscription.close()`` hands the unsettled deliveries back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshq.core.errors import InvalidArgument
from meshq.queue import convert, model
from meshq.queue import validate as v
from meshq.queue.backend import QueueBackend, QueueSubscription
from meshq.queue.subscription import check_window
from meshq.v1 import queues_pb2

logger = logging.getLogger(__name__)

INBOX_FRAMES = 64  # consumer frames buffered before the reader stops reading
MAX_FRAME_BODY_BYTES = 4 * 1024 * 1024  # a response frame is split above this many body bytes


@dataclass
class _Out:
    """Something for the response stream: deliveries, results, the end, or a failure."""

    deliveries: Sequence[model.Delivery] = ()
    results: Sequence[tuple[Sequence[str], Sequence[model.SettleOutcome]]] = ()
    """(tokens, outcomes) pairs: SettleResults are built straight into the frame."""
    end: bool = False
    error: BaseException | None = None


@dataclass
class _Settle:
    """Settle items merged from one or more consumer frames."""

    acks: list[str] = field(default_factory=list)
    nacks: list[queues_pb2.NackItem] = field(default_factory=list)
    extends: list[queues_pb2.ExtendItem] = field(default_factory=list)

    def add(self, frame: queues_pb2.SubscribeRequest) -> None:
        self.acks.extend(frame.ack_tokens)
        self.nacks.extend(frame.nacks)
        self.extends.extend(frame.extends)

    def __len__(self) -> int:
        return len(self.acks) + len(self.nacks) + len(self.extends)


_EOF = object()  # the consumer half-closed its side


class SubscribeSession:
    """Runs one Subscribe stream; use ``open``, then ``async with`` and ``frames()``."""

    def __init__(self, backend: QueueBackend, room: str, queue: str,
                 subscription: QueueSubscription,
                 requests: AsyncIterator[queues_pb2.SubscribeRequest],
                 first: queues_pb2.SubscribeRequest) -> None:
        self._backend = backend
        self._room = room
        self._queue = queue
        self._sub = subscription
        self._requests = requests
        self._first = first
        self._inbox: asyncio.Queue[Any] = asyncio.Queue(INBOX_FRAMES)
        self._outbox: asyncio.Queue[_Out] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._max_batch = backend.limits.max_batch

    @classmethod
    async def open(cls, backend: QueueBackend,
                   requests: AsyncIterator[queues_pb2.SubscribeRequest]) -> SubscribeSession:
        """Read the first frame (it must carry ``open``) and subscribe."""
        try:
            first = await anext(aiter(requests))
        except StopAsyncIteration:
            raise InvalidArgument("Subscribe stream ended before its first frame: "
                                  "send a frame with open (room, queue, max_in_flight)") from None
        if not first.HasField("open"):
            raise InvalidArgument("the first Subscribe frame must carry open "
                                  "(room, queue, max_in_flight)")
        spec = first.open
        sub = await backend.subscribe(spec.room, spec.queue, max_in_flight=spec.max_in_flight,
                                     lease_seconds=convert.lease_seconds(spec.lease_seconds),
                                     create=spec.create)
        return cls(backend, spec.room, spec.queue, sub, requests, first)

    async def __aenter__(self) -> SubscribeSession:
        for name, coro in (("reader", self._read()), ("settler", self._settle()),
                           ("pump", self._pump())):
            task = asyncio.create_task(self._reporting(coro),
                                       name=f"subscribe-{name}:{self._room}/{self._queue}")
            self._tasks.append(task)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.shield(self._sub.close())

    async def frames(self) -> AsyncIterator[queues_pb2.SubscribeResponse]:
        """Response frames: an empty one confirming the open, then merged deliveries/results."""
        yield queues_pb2.SubscribeResponse()
        while True:
            items = [await self._outbox.get()]
            while not self._outbox.empty():
                items.append(self._outbox.get_nowait())
            failure = next((i.error for i in items if i.error is not None), None)
            if failure is not None:
                raise failure
            end = any(i.end for i in items)
            results = [pair for i in items for pair in i.results]
            # After the consumer half-closed, deliveries are not sent: close() hands them back.
            deliveries = [] if end else [d for i in items for d in i.deliveries]
            for frame in _split(deliveries, results):
                yield frame
            if end:
                return

    async def _reporting(self, body: Coroutine[Any, Any, None]) -> None:
        """Run one task's body; an error it raises ends the stream with that status."""
        try:
            await body
        except Exception as err:
            self._outbox.put_nowait(_Out(error=err))

    async def _read(self) -> None:
        await self._inbox.put(self._first)
        async for frame in self._requests:
            if frame.HasField("open"):
                raise InvalidArgument("open is allowed only on the first Subscribe frame")
            await self._inbox.put(frame)
        await self._inbox.put(_EOF)

    async def _settle(self) -> None:
        carry: Any = None  # a frame that did not fit in the last merge
        while True:
            frame = carry if carry is not None else await self._inbox.get()
            carry = None
            if frame is _EOF:
                self._outbox.put_nowait(_Out(end=True))
                return
            pending = _Settle()
            eof, refused = False, None
            while True:
                try:
                    eof = self._merge(frame, pending)
                except InvalidArgument as err:  # the whole frame is refused
                    refused = err
                    break
                if eof or self._inbox.empty():
                    break
                frame = self._inbox.get_nowait()
                if not self._fits(frame, pending):
                    carry = frame
                    break
            await self._apply(pending)
            if refused is not None:
                raise refused
            if eof:
                self._outbox.put_nowait(_Out(end=True))
                return

    def _fits(self, frame: Any, pending: _Settle) -> bool:
        """Whether ``frame`` can join ``pending`` within the backend's per-call limit."""
        if frame is _EOF:
            return True
        limit = self._max_batch
        return (len(pending.acks) + len(frame.ack_tokens) <= limit
                and len(pending.nacks) + len(frame.nacks) <= limit
                and len(pending.extends) + len(frame.extends) <= limit)

    def _merge(self, frame: Any, pending: _Settle) -> bool:
        """Check a whole frame, then add its settle items to ``pending`` and apply its window.

        True at EOF. A frame with any bad item raises InvalidArgument before anything of it
        is applied: its acks are never applied without their results being sent.
        """
        if frame is _EOF:
            return True
        limit = self._max_batch
        for name, n in (("ack_tokens", len(frame.ack_tokens)), ("nacks", len(frame.nacks)),
                        ("extends", len(frame.extends))):
            if n > limit:
                raise InvalidArgument(f"{n} {name} in one frame; the limit is {limit}")
        v.check_nacks(frame.nacks)
        v.check_extends(frame.extends)
        if frame.HasField("max_in_flight"):
            check_window(frame.max_in_flight, minimum=0)
            self._sub.set_max_in_flight(frame.max_in_flight)
        pending.add(frame)
        return False

    async def _apply(self, pending: _Settle) -> None:
        """Extensions first, then acks, then nacks: a job extended then finished stays OK."""
        results: list[tuple[Sequence[str], Sequence[model.SettleOutcome]]] = []
        if pending.extends:
            outcomes = await self._backend.extend(self._room, self._queue,
                                                 convert.extends_from_proto(pending.extends))
            results.append(([e.lease_token for e in pending.extends], outcomes))
        if pending.acks:
            outcomes = await self._backend.ack(self._room, self._queue, pending.acks)
            results.append((pending.acks, outcomes))
        if pending.nacks:
            outcomes = await self._backend.nack(self._room, self._queue,
                                               convert.nacks_from_proto(pending.nacks))
            results.append(([n.lease_token for n in pending.nacks], outcomes))
        if results:
            self._outbox.put_nowait(_Out(results=results))

    async def _pump(self) -> None:
        while True:
            batch = await self._sub.next_batch()
            if not batch:  # the subscription was closed (queue closed, deleted, stopping)
                self._outbox.put_nowait(_Out(end=True))
                return
            self._outbox.put_nowait(_Out(deliveries=batch))


def _split(deliveries: Sequence[model.Delivery],
           results: Sequence[tuple[Sequence[str], Sequence[model.SettleOutcome]]],
           ) -> list[queues_pb2.SubscribeResponse]:
    """Frames carrying everything given, each under MAX_FRAME_BODY_BYTES of bodies.

    Everything is built in place in the frames (``add``), with no per-item proto copies.
    """
    frames: list[queues_pb2.SubscribeResponse] = []
    current = queues_pb2.SubscribeResponse()
    for tokens, outcomes in results:
        convert.add_settle_results(current.results, tokens, outcomes)
    start, size = 0, 0
    for i, delivery in enumerate(deliveries):
        body = len(delivery.body)
        if size and size + body > MAX_FRAME_BODY_BYTES:
            convert.add_deliveries(current.deliveries, deliveries[start:i])
            frames.append(current)
            current, start, size = queues_pb2.SubscribeResponse(), i, 0
        size += body
    convert.add_deliveries(current.deliveries, deliveries[start:])
    if current.deliveries or current.results:
        frames.append(current)
    return frames
