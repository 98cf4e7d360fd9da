"""What the queue SDK hands back: received messages, queue and message status."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from meshq.v1 import queues_pb2

_STATES = {
    queues_pb2.MESSAGE_STATE_READY: "ready",
    queues_pb2.MESSAGE_STATE_DELAYED: "delayed",
    queues_pb2.MESSAGE_STATE_IN_FLIGHT: "in_flight",
    queues_pb2.MESSAGE_STATE_GONE: "gone",
}


class StaleLease(Exception):
    """The lease token is unknown or its lease expired (the message may be with another
    consumer now); the server changed nothing."""

    def __init__(self, lease_token: str, action: str) -> None:
        super().__init__(f"{action} refused: lease {lease_token[:12]}… is stale or unknown")
        self.lease_token = lease_token
        self.action = action


class NoLease(Exception):
    """The message carries no lease (peeked, or auto-acked): there is nothing to settle."""


class Settler(Protocol):
    """Settles leases: over the Subscribe stream, or with unary Ack / Nack / ExtendLease."""

    async def settle_ack(self, token: str) -> None: ...

    async def settle_nack(self, token: str, delay: float, error: str) -> None: ...

    async def settle_extend(self, token: str, seconds: float) -> None: ...


@dataclass(eq=False)
class ReceivedMessage:
    """One delivered message; ``ack``, ``nack`` and ``extend`` settle its lease."""

    message_id: str
    json: str
    """The body as JSON text."""
    headers: dict[str, str]
    attempt: int
    """1 for the first delivery, more for redeliveries."""
    enqueued_at: float
    """Seconds since the Unix epoch."""
    lease_token: str
    lease_expires_at: float
    queue: str
    _settler: Settler | None = field(default=None, repr=False)
    _body: Any = field(default=None, repr=False)
    _decoded: bool = field(default=False, repr=False)
    priority: int = 0
    """0-9, higher delivered first."""
    key: str = ""
    """The message's key ("" without one)."""

    @property
    def body(self) -> Any:
        """The body as a Python value (decoded once)."""
        if not self._decoded:
            self._body = json.loads(self.json)
            self._decoded = True
        return self._body

    def _lease(self) -> Settler:
        if self._settler is None or not self.lease_token:
            raise NoLease(f"message {self.message_id} has no lease to settle")
        return self._settler

    async def ack(self) -> None:
        """Done: remove the message. Raises StaleLease when the lease is gone."""
        await self._lease().settle_ack(self.lease_token)

    async def nack(self, delay: float = 0.0, error: str = "") -> None:
        """Failed: hand the message back, ready again after ``delay`` seconds."""
        await self._lease().settle_nack(self.lease_token, delay, error)

    async def extend(self, seconds: float) -> None:
        """Keep the lease for ``seconds`` more, counted from now."""
        await self._lease().settle_extend(self.lease_token, seconds)


def message_from_proto(d: queues_pb2.Delivery, settler: Settler | None) -> ReceivedMessage:
    return ReceivedMessage(
        message_id=d.message_id, json=d.json, headers=dict(d.headers), attempt=d.attempt,
        enqueued_at=d.enqueued_at_unix_ms / 1000, lease_token=d.lease_token,
        lease_expires_at=d.lease_expires_at_unix_ms / 1000, queue=d.queue,
        _settler=settler if d.lease_token else None, priority=d.priority, key=d.key,
    )


def check_outcome(result: queues_pb2.SettleResult, action: str) -> None:
    if result.outcome != queues_pb2.SETTLE_OUTCOME_OK:
        raise StaleLease(result.lease_token, action)


@dataclass(frozen=True)
class QueueInfo:
    """A queue and its counts."""

    name: str
    depth: int
    in_flight: int
    delayed: int
    dead_lettered: int
    oldest_age_seconds: float
    closed: bool
    max_deliveries: int
    dedup_window_seconds: float
    rate_limit: float = 0.0
    """Deliveries per second to all consumers (0: no limit)."""
    rate_burst: int = 0
    key_concurrency: int = 0
    """Most leased messages per key at once (0: no limit)."""

    @classmethod
    def from_proto(cls, q: queues_pb2.QueueInfo) -> QueueInfo:
        o = q.options
        return cls(name=q.name, depth=q.depth, in_flight=q.in_flight, delayed=q.delayed,
                   dead_lettered=q.dead_lettered, oldest_age_seconds=q.oldest_age_seconds,
                   closed=q.closed, max_deliveries=o.max_deliveries,
                   dedup_window_seconds=o.dedup_window_seconds, rate_limit=o.rate_limit,
                   rate_burst=o.rate_burst, key_concurrency=o.key_concurrency)


@dataclass(frozen=True)
class MessageStatus:
    """Where a message is: "ready", "delayed", "in_flight" or "gone", and its attempts."""

    state: str
    attempt: int

    @classmethod
    def from_proto(cls, r: queues_pb2.GetMessageResponse) -> MessageStatus:
        return cls(state=_STATES.get(r.state, "unknown"), attempt=r.attempt)
