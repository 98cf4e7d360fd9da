"""The client side of one Subscribe stream.

A *writer* task merges every pending ack, nack, extension and window change into one frame;
a *reader* task routes deliveries to the iterator and SettleResults to the callers waiting on
them. No reconnection here: a broken stream raises its gRPC error from the iterator (the
Worker runtime reconnects).

The stream itself has no deadline (it lives until closed); opening it and every settle call
are bounded by the connection's timeout. The server's first frame is empty and confirms the
open, so a bad queue name or a missing queue fails ``async with`` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import grpc

from meshq.api.connection import Connection
from meshq.api.messages import ReceivedMessage, check_outcome, message_from_proto
from meshq.v1 import queues_pb2, queues_pb2_grpc

logger = logging.getLogger(__name__)

MAX_FRAME_ITEMS = 1000  # settle items merged into one frame at most
_END = object()
_CLOSE = object()


class SubscriptionClosed(Exception):
    """The subscription is closed: its unsettled deliveries went back to the queue."""


def _deadline_error(what: str, seconds: float) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(),
                                grpc.aio.Metadata(), details=f"{what} took over {seconds:g}s")


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
                       asyncio.create_task(self._read(), name=f"sub-reader:{self.queue}")]
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
        return item  # type: ignore[no-any-return]

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
        writer, reader = self._tasks
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
        while not self._deliveries.empty():
            self._deliveries.get_nowait()
        self._deliveries.put_nowait(_END)

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
                        self._deliveries.put_nowait(message_from_proto(delivery, self))
        except grpc.aio.AioRpcError as err:
            if not (self._closing and err.code() == grpc.StatusCode.CANCELLED):
                self._failure = err
        finally:
            self._fail_waiters(self._failure or SubscriptionClosed("the stream ended"))
            self._deliveries.put_nowait(_END)

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
