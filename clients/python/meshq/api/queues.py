"""``room.queues``: send, receive, subscribe and manage the queues of one room.

Every unary call carries the connection's metadata and a deadline (``conn.timeout``; for a
waiting Receive, the wait plus ``conn.timeout``).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from typing import Any

from meshq.api.connection import Connection
from meshq.api.messages import (
    MessageStatus,
    QueueInfo,
    ReceivedMessage,
    StaleLease,
    message_from_proto,
)
from meshq.api.subscription import Subscription
from meshq.api.tracing import inject
from meshq.v1 import queues_pb2, queues_pb2_grpc

SEND_BATCH = 500  # messages per Send call in send_many (the server's default limit is 1000)


def encode(message: Any) -> str:
    """A JSON value as compact UTF-8 text (TypeError for what JSON cannot hold)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def outgoing(message: Any, *, headers: dict[str, str] | None = None, delay: float = 0.0,
             dedup_id: str | None = None, dedup_window: float = 0.0, priority: int = 0,
             key: str | None = None) -> queues_pb2.OutgoingMessage:
    """One message for the wire, with the current trace context in its headers.

    ``dedup_window``: seconds this message's dedup_id is remembered (0: the queue's window;
    at most 30 days). ``priority``: 0-9, higher delivered first. ``key``: groups messages
    for the queue's key concurrency and fair turns between keys.
    """
    all_headers = dict(headers or {})
    inject(all_headers)
    return queues_pb2.OutgoingMessage(json=encode(message), headers=all_headers,
                                      delay_seconds=delay, dedup_id=dedup_id or "",
                                      dedup_window_seconds=dedup_window, priority=priority,
                                      key=key or "")


class QueuesClient:
    """The queues of one room."""

    def __init__(self, conn: Connection, room: str) -> None:
        self._conn = conn
        self.room = room

    @property
    def _stub(self) -> queues_pb2_grpc.QueueServiceStub:
        return self._conn.stub(queues_pb2_grpc.QueueServiceStub)

    def _call(self, extra: float = 0.0) -> dict[str, Any]:
        return self._conn.call_options(self._conn.timeout + extra)

    async def send(self, name: str, message: Any, *, create: bool = True,
                   headers: dict[str, str] | None = None, delay: float = 0.0,
                   dedup_id: str | None = None, dedup_window: float = 0.0,
                   priority: int = 0, key: str | None = None) -> str:
        """Enqueue one JSON value; returns its id once it is on disk.

        ``priority`` 0-9 (higher first); ``key`` for per-key concurrency and fairness."""
        request = queues_pb2.SendRequest(room=self.room, queue=name, create=create, messages=[
            outgoing(message, headers=headers, delay=delay, dedup_id=dedup_id,
                     dedup_window=dedup_window, priority=priority, key=key)])
        response = await self._stub.Send(request, **self._call())
        return response.results[0].message_id  # type: ignore[no-any-return]

    async def send_many(self, name: str, messages: Iterable[Any], *, create: bool = True,
                        batch_size: int = SEND_BATCH) -> list[str]:
        """Enqueue many JSON values in order, ``batch_size`` per call; returns their ids."""
        ids: list[str] = []
        batch: list[queues_pb2.OutgoingMessage] = []
        for message in messages:
            batch.append(outgoing(message))
            if len(batch) >= batch_size:
                ids += await self.send_batch(name, batch, create=create)
                batch = []
        if batch:
            ids += await self.send_batch(name, batch, create=create)
        return ids

    async def send_batch(self, name: str, batch: Sequence[queues_pb2.OutgoingMessage], *,
                         create: bool = True) -> list[str]:
        """Send prepared messages (see ``outgoing``) in one call."""
        request = queues_pb2.SendRequest(room=self.room, queue=name, create=create,
                                         messages=batch)
        response = await self._stub.Send(request, **self._call())
        return [r.message_id for r in response.results]

    async def receive(self, name: str, *, create: bool = True, wait: bool = True,
                      timeout: float = 20.0) -> Any:
        """Pop one message (auto-acked, as MeshAgent's receive); its body, or None on timeout."""
        request = queues_pb2.ReceiveRequest(room=self.room, queue=name, create=create, wait=wait,
                                            timeout_seconds=timeout, max_messages=1,
                                            auto_ack=True)
        response = await self._stub.Receive(request, **self._call(timeout if wait else 0.0))
        if not response.deliveries:
            return None
        return json.loads(response.deliveries[0].json)

    async def receive_leased(self, name: str, *, max_messages: int = 1, wait: bool = True,
                             timeout: float = 20.0, lease: float = 30.0,
                             create: bool = True) -> list[ReceivedMessage]:
        """Lease up to ``max_messages``; settle each with ack / nack / extend."""
        return await self.receive_messages(name, max_messages=max_messages, wait=wait,
                                           timeout=timeout, lease=lease, create=create)

    async def receive_messages(self, name: str, *, max_messages: int = 1, wait: bool = True,
                               timeout: float = 20.0, lease: float = 30.0,
                               auto_ack: bool = False,
                               create: bool = True) -> list[ReceivedMessage]:
        """Receive up to ``max_messages``: leased, or removed at once with ``auto_ack``."""
        request = queues_pb2.ReceiveRequest(room=self.room, queue=name, create=create, wait=wait,
                                            timeout_seconds=timeout, max_messages=max_messages,
                                            lease_seconds=lease, auto_ack=auto_ack)
        response = await self._stub.Receive(request, **self._call(timeout if wait else 0.0))
        settler = _UnarySettler(self, name)
        return [message_from_proto(d, settler) for d in response.deliveries]

    def subscribe(self, name: str, *, max_in_flight: int = 1, lease: float = 30.0,
                  create: bool = True) -> Subscription:
        """A streaming consumer: ``async with queues.subscribe(name=...) as sub``."""
        return Subscription(self._conn, self.room, name, max_in_flight=max_in_flight,
                            lease=lease, create=create)

    async def ack(self, name: str, tokens: Sequence[str]) -> list[bool]:
        """Ack leases by token; True for each applied, False for each stale."""
        request = queues_pb2.AckRequest(room=self.room, queue=name, lease_tokens=tokens)
        response = await self._stub.Ack(request, **self._call())
        return [r.outcome == queues_pb2.SETTLE_OUTCOME_OK for r in response.results]

    async def nack(self, name: str, token: str, *, delay: float = 0.0, error: str = "") -> bool:
        """Hand one lease back; False when it was stale."""
        item = queues_pb2.NackItem(lease_token=token, delay_seconds=delay, error=error)
        request = queues_pb2.NackRequest(room=self.room, queue=name, nacks=[item])
        response = await self._stub.Nack(request, **self._call())
        return response.results[0].outcome == queues_pb2.SETTLE_OUTCOME_OK  # type: ignore[no-any-return]

    async def extend(self, name: str, token: str, seconds: float) -> bool:
        """Extend one lease to ``seconds`` from now; False when it was stale."""
        item = queues_pb2.ExtendItem(lease_token=token, seconds=seconds)
        request = queues_pb2.ExtendLeaseRequest(room=self.room, queue=name, extends=[item])
        response = await self._stub.ExtendLease(request, **self._call())
        return response.results[0].outcome == queues_pb2.SETTLE_OUTCOME_OK  # type: ignore[no-any-return]

    async def extend_many(self, name: str, tokens: Sequence[str], seconds: float
                          ) -> list[bool]:
        """Extend many leases to ``seconds`` from now in one call (a worker's lease keeper
        extends everything it holds once per tick); True for each applied, False for each
        stale."""
        request = queues_pb2.ExtendLeaseRequest(room=self.room, queue=name, extends=[
            queues_pb2.ExtendItem(lease_token=t, seconds=seconds) for t in tokens])
        response = await self._stub.ExtendLease(request, **self._call())
        return [r.outcome == queues_pb2.SETTLE_OUTCOME_OK for r in response.results]

    async def open(self, name: str, *, max_deliveries: int | None = None,
                   dedup_window: float | None = None, rate_limit: float | None = None,
                   rate_burst: int | None = None, key_concurrency: int | None = None
                   ) -> QueueInfo:
        """Create (room too) or reopen a queue; given options are applied, others kept.

        ``rate_limit``: deliveries per second to all consumers together (0 removes the
        limit), ``rate_burst`` what the bucket saves up (0: one second's worth);
        ``key_concurrency``: most leased messages per key at once (0: no limit).
        """
        options = queues_pb2.QueueOptions(max_deliveries=max_deliveries or 0,
                                          dedup_window_seconds=dedup_window or 0.0)
        if rate_limit is not None:
            options.rate_limit = rate_limit
        if rate_burst is not None:
            options.rate_burst = rate_burst
        if key_concurrency is not None:
            options.key_concurrency = key_concurrency
        request = queues_pb2.OpenQueueRequest(room=self.room, queue=name, options=options)
        response = await self._stub.OpenQueue(request, **self._call())
        return QueueInfo.from_proto(response.queue)

    async def close(self, name: str) -> None:
        """Refuse Send and Receive on the queue until it is reopened."""
        await self._stub.CloseQueue(queues_pb2.CloseQueueRequest(room=self.room, queue=name),
                                    **self._call())

    async def drain(self, name: str) -> int:
        """Remove every message; returns how many went."""
        response = await self._stub.DrainQueue(
            queues_pb2.DrainQueueRequest(room=self.room, queue=name), **self._call())
        return response.removed  # type: ignore[no-any-return]

    async def delete(self, name: str) -> None:
        await self._stub.DeleteQueue(queues_pb2.DeleteQueueRequest(room=self.room, queue=name),
                                     **self._call())

    async def peek(self, name: str, max_messages: int = 10) -> list[ReceivedMessage]:
        """The next ready messages, not leased (they cannot be settled)."""
        request = queues_pb2.PeekQueueRequest(room=self.room, queue=name,
                                              max_messages=max_messages)
        response = await self._stub.PeekQueue(request, **self._call())
        return [message_from_proto(d, None) for d in response.messages]

    async def redrive(self, name: str, max_messages: int = 0) -> int:
        """Move up to ``max_messages`` (0: all) from ``<name>.dlq`` back; returns how many."""
        request = queues_pb2.RedriveQueueRequest(room=self.room, queue=name,
                                                 max_messages=max_messages)
        response = await self._stub.RedriveQueue(request, **self._call())
        return response.moved  # type: ignore[no-any-return]

    async def message_state(self, name: str, message_id: str) -> MessageStatus:
        request = queues_pb2.GetMessageRequest(room=self.room, queue=name, message_id=message_id)
        return MessageStatus.from_proto(await self._stub.GetMessage(request, **self._call()))

    # Last, so that ``list`` in the annotations above is the builtin.
    async def list(self) -> builtins.list[QueueInfo]:
        """The room's queues with their counts, by name."""
        response = await self._stub.ListQueues(queues_pb2.ListQueuesRequest(room=self.room),
                                               **self._call())
        return [QueueInfo.from_proto(q) for q in response.queues]


class _UnarySettler:
    """Settles leases from ``receive_leased`` with the client's unary ack / nack / extend."""

    def __init__(self, client: QueuesClient, queue: str) -> None:
        self._client = client
        self._queue = queue

    async def settle_ack(self, token: str) -> None:
        _applied((await self._client.ack(self._queue, [token]))[0], token, "ack")

    async def settle_nack(self, token: str, delay: float, error: str) -> None:
        _applied(await self._client.nack(self._queue, token, delay=delay, error=error), token,
                 "nack")

    async def settle_extend(self, token: str, seconds: float) -> None:
        _applied(await self._client.extend(self._queue, token, seconds), token, "extend")


def _applied(applied: bool, token: str, action: str) -> None:
    if not applied:
        raise StaleLease(token, action)
