"""The client side of one Subscribe stream.

A *writer* task merges every pending ack, nack, extension and window change into one frame;
a *reader* task routes deliveries to the iterator and SettleResults to the callers waiting on
them. No reconnection here: a broken stream raises its gRPC error from the iterator (the
Worker runtime reconnects).

The stream itself has no deadline (it lives until closed); opening it and every settle call
are bounded by the connection's timeout. The server's first frame is empty and confirms the
open, so a bad queue name or a missing queue fails ``async with`` at once.

Deliveries wait in a buffer until the application takes them (``async for``); the server
grants up to ``max_in_flight`` of them at once, and each one's lease runs from the moment it
was sent. So that a slow reader does not let buffered deliveries expire (and burn attempts
towards the dead-letter queue), the ``BufferLeaser`` extends the lease of every delivery still
in the buffer, as Pub/Sub's client leaser does: a third of the way through the lease, to a
full lease from then. Once the application takes a message its lease is the application's
to keep (the Worker runtime's leaser does that), and its ``lease_expires_at`` says when.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc

from meshq.api.connection import Connection
from meshq.api.messages import ReceivedMessage, check_outcome, message_from_proto
from meshq.v1 import queues_pb2, queues_pb2_grpc

logger = logging.getLogger(__name__)

MAX_FRAME_ITEMS = 1000  # settle items merged into one frame at most
EXTEND_FRACTION = 1 / 3  # extend a buffered lease when a third of it passed: two chances
MIN_LEASE_SECONDS = 0.1  # a lease shorter than this (clock skew) is treated as this long
_END = object()
_CLOSE = object()


class SubscriptionClosed(Exception):
    """The subscription is closed: its unsettled deliveries went back to the queue."""


def _deadline_error(what: str, seconds: float) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(),
                                grpc.aio.Metadata(), details=f"{what} took over {seconds:g}s")


class BufferLeaser:
    """Extends the leases of deliveries that wait in the buffer, not yet taken.

    ``add`` when a delivery enters the buffer, ``take`` when the application takes it (its
    lease's expiry, on this process's clock, is returned), ``clear`` when the buffer is
    dropped. ``run`` sleeps until the next extension is due, asks ``extend(token, seconds)``
    for every one due at once, and waits on an event while the buffer is empty.
    """

    def __init__(self, extend: Callable[[str, float], None]) -> None:
        self._extend = extend
        self._leases: dict[str, tuple[float, float, float]] = {}
        """token -> (when to extend, when it expires, lease length), on the loop's clock."""
        self._added = asyncio.Event()

    def __len__(self) -> int:
        return len(self._leases)

    def add(self, token: str, lease_seconds: float) -> None:
        now = asyncio.get_running_loop().time()
        lease = max(lease_seconds, MIN_LEASE_SECONDS)
        self._leases[token] = (now + lease * EXTEND_FRACTION, now + lease, lease)
        self._added.set()

    def take(self, token: str) -> float | None:
        """Stop extending ``token``; the loop-clock instant its lease expires, if known."""
        entry = self._leases.pop(token, None)
        return None if entry is None else entry[1]

    def clear(self) -> None:
        self._leases.clear()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._leases:
                self._added.clear()
                await self._added.wait()
                continue
            now = loop.time()
            due = min(at for at, _, _ in self._leases.values())
            if due > now:
                await asyncio.sleep(due - now)
                continue
            for token, (at, _expires, lease) in list(self._leases.items()):
                if at <= now:
                    self._extend(token, lease)
                    self._leases[token] = (now + lease * EXTEND_FRACTION, now + lease, lease)


class Subscription:
    """``async with queues.subscribe(...) as sub: async for msg in sub: ...``"""

    def __init__(self, conn: Connection, room: str, queue: str, *, max_in_flight: int,
                 lease: float, create: bool) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1 (pause() stops deliveries)")
        self._conn = conn
        self.room = room
        self.queue = queue
        self.max_in_flight = max_in_flight
        self._open = queues_pb2.SubscribeOpen(room=room, queue=queue, create=create,
                                              max_in_flight=max_in_flight, lease_seconds=lease)
        self._call: Any = None
        self._outgoing: asyncio.Queue[Any] = asyncio.Queue()
        self._deliveries: asyncio.Queue[Any] = asyncio.Queue()
        self._waiters: dict[str, deque[asyncio.Future[queues_pb2.SettleResult]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._deadlines: dict[asyncio.Future[queues_pb2.SettleResult], tuple[float, str]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closing = False
        self._buffered = BufferLeaser(self._extend_buffered)

    async def open(self) -> Subscription:
        """Open the stream and wait for the server's confirmation."""
        stub = self._conn.stub(queues_pb2_grpc.QueueServiceStub)
        self._call = stub.Subscribe(metadata=self._conn.metadata)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result and
            # drops a cancellation that lands as the handshake completes, and the cancelled
            # task (a Worker's consumer being stopped) then runs on with an open stream.
            async with asyncio.timeout(self._conn.timeout):
                await self._handshake()
        except TimeoutError:
            self._call.cancel()
            raise _deadline_error("opening the subscription", self._conn.timeout) from None
        except BaseException:
            self._call.cancel()
            raise
        self._tasks = [asyncio.create_task(self._write(), name=f"sub-writer:{self.queue}"),
                       asyncio.create_task(self._read(), name=f"sub-reader:{self.queue}"),
                       asyncio.create_task(self._buffered.run(),
                                           name=f"sub-buffer-leaser:{self.queue}")]
        return self

    async def _handshake(self) -> None:
        await self._call.write(queues_pb2.SubscribeRequest(open=self._open))
        first = await self._call.read()
        if first is grpc.aio.EOF:
            raise SubscriptionClosed("the server ended the stream before confirming the open")

    async def __aenter__(self) -> Subscription:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ReceivedMessage:
        item = await self._deliveries.get()
        if item is _END:
            self._deliveries.put_nowait(_END)  # every later call ends too
            if self._failure is not None:
                raise self._failure
            raise StopAsyncIteration
        message: ReceivedMessage = item
        expires = self._buffered.take(message.lease_token)
        if expires is not None:  # the buffer may have extended it: say until when
            message.lease_expires_at = time.time() + expires - asyncio.get_running_loop().time()
        return message

    def set_max_in_flight(self, n: int) -> None:
        """Change the credit window; 0 pauses deliveries (in-flight ones stay leased)."""
        if n < 0:
            raise ValueError("max_in_flight must be >= 0")
        if n:
            self.max_in_flight = n
        self._outgoing.put_nowait(("window", n))

    def pause(self) -> None:
        """Stop new deliveries (window 0); ``resume()`` restores the last window."""
        self.set_max_in_flight(0)

    def resume(self) -> None:
        self.set_max_in_flight(self.max_in_flight)

    async def close(self) -> None:
        """Flush pending settlements, end the stream; the server hands back the rest."""
        if self._closing:
            return
        self._closing = True
        self._drop_deliveries()
        if not self._tasks:
            return
        self._outgoing.put_nowait(_CLOSE)
        reader = self._tasks[1]
        try:
            # asyncio.wait neither raises the reader's error nor swallows our own cancel.
            await asyncio.wait([reader], timeout=self._conn.timeout)
        finally:
            if not reader.done():
                self._call.cancel()
            for task in self._tasks:
                task.cancel()
            self._fail_waiters(SubscriptionClosed("the subscription closed"))
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._drop_deliveries()
        # Let the tasks finish; a cancel of this task still propagates from here.
        await asyncio.wait(self._tasks, timeout=self._conn.timeout)
        for task in self._tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: a broken stream was reported by the reader

    def _drop_deliveries(self) -> None:
        self._buffered.clear()
        while not self._deliveries.empty():
            self._deliveries.get_nowait()
        self._deliveries.put_nowait(_END)

    def _extend_buffered(self, token: str, seconds: float) -> None:
        """Queue an extension of a buffered delivery's lease; nobody waits for its result,
        but a placeholder keeps this token's results matched to their settles in order."""
        if self._closing or self._failure is not None:
            return
        placeholder: asyncio.Future[queues_pb2.SettleResult] = (
            asyncio.get_running_loop().create_future())
        placeholder.add_done_callback(_ignore_outcome)
        self._waiters.setdefault(token, deque()).append(placeholder)
        self._outgoing.put_nowait(
            ("extend", queues_pb2.ExtendItem(lease_token=token, seconds=seconds)))

    # Settler: called by ReceivedMessage.ack / nack / extend.

    async def settle_ack(self, token: str) -> None:
        check_outcome(await self._settle(token, ("ack", token)), "ack")

    async def settle_nack(self, token: str, delay: float, error: str) -> None:
        item = queues_pb2.NackItem(lease_token=token, delay_seconds=delay, error=error)
        check_outcome(await self._settle(token, ("nack", item)), "nack")

    async def settle_extend(self, token: str, seconds: float) -> None:
        item = queues_pb2.ExtendItem(lease_token=token, seconds=seconds)
        check_outcome(await self._settle(token, ("extend", item)), "extend")

    async def _settle(self, token: str, op: tuple[str, Any]) -> queues_pb2.SettleResult:
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise SubscriptionClosed("the subscription is closed; the message went back")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[queues_pb2.SettleResult] = loop.create_future()
        self._waiters.setdefault(token, deque()).append(future)
        self._outgoing.put_nowait(op)
        # One watchdog timer serves every pending settle (a timer per ack costs too much).
        self._deadlines[future] = (loop.time() + self._conn.timeout, op[0])
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name=f"sub-deadlines:{self.queue}")
        try:
            return await future
        finally:
            self._deadlines.pop(future, None)

    async def _watch(self) -> None:
        """Fail settles whose answer did not come within the deadline, oldest first."""
        loop = asyncio.get_running_loop()
        try:
            while self._deadlines:
                future, (deadline, action) = next(iter(self._deadlines.items()))
                delay = deadline - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                del self._deadlines[future]
                if not future.done():
                    future.set_exception(
                        _deadline_error(f"{action} on the stream", self._conn.timeout))
        finally:
            self._watchdog = None

    async def _write(self) -> None:
        done = False
        while not done:
            items = [await self._outgoing.get()]
            while not self._outgoing.empty() and len(items) < MAX_FRAME_ITEMS:
                items.append(self._outgoing.get_nowait())
            frame = queues_pb2.SubscribeRequest()
            for item in items:
                if item is _CLOSE:
                    done = True
                    continue
                kind, value = item
                if kind == "ack":
                    frame.ack_tokens.append(value)
                elif kind == "nack":
                    frame.nacks.append(value)
                elif kind == "extend":
                    frame.extends.append(value)
                else:
                    frame.max_in_flight = value
            if frame.ByteSize():
                await self._call.write(frame)
        await self._call.done_writing()

    async def _read(self) -> None:
        try:
            while True:
                frame = await self._call.read()
                if frame is grpc.aio.EOF:
                    return
                self._resolve(frame.results)
                if not self._closing:
                    for delivery in frame.deliveries:
                        self._buffer(delivery)
        except grpc.aio.AioRpcError as err:
            if not (self._closing and err.code() == grpc.StatusCode.CANCELLED):
                self._failure = err
        finally:
            self._fail_waiters(self._failure or SubscriptionClosed("the stream ended"))
            self._deliveries.put_nowait(_END)

    def _buffer(self, delivery: queues_pb2.Delivery) -> None:
        if delivery.lease_token:
            lease = self._open.lease_seconds or (
                delivery.lease_expires_at_unix_ms / 1000 - time.time())
            self._buffered.add(delivery.lease_token, lease)
        self._deliveries.put_nowait(message_from_proto(delivery, self))

    def _resolve(self, results: Any) -> None:
        for result in results:
            waiters = self._waiters.get(result.lease_token)
            if not waiters:
                continue
            future = waiters.popleft()
            if not waiters:
                del self._waiters[result.lease_token]
            if not future.done():
                future.set_result(result)

    def _fail_waiters(self, err: BaseException) -> None:
        for waiters in self._waiters.values():
            for future in waiters:
                if not future.done():
                    future.set_exception(err)
        self._waiters.clear()


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    """A buffered extension's result: stale or failed, the delivery's own settle says so."""
    if not future.cancelled():
        future.exception()
