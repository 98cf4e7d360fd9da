"""The durable record behind the queue engine.

The engine keeps all queue state in memory; a store only has to (1) hand back everything at
start-up and (2) apply ordered batches of small mutations durably. ``submit`` returns a future
that resolves once the batch is committed; batches are applied in submission order, so a
mutation never overtakes one submitted before it. Leases are never stored: after a restart
a message that was leased is ready again, its attempt count as last persisted.

Each mutation is a tuple ``(kind, params)``; the kinds and their parameters:

=============  ===========================================================================
``ROOM_PUT``   (name, created_at)
``ROOM_DEL``   (name,) — its queues are deleted by their own ``QUEUE_DEL`` first
``QUEUE_PUT``  (room, name, max_deliveries, dedup_window, closed, created_at) — upsert
``QUEUE_DEL``  (room, name) — the queue, its messages and its dedup records
``QUEUE_CLEAR`` (room, name) — every message of the queue (drain)
``MSG_PUT``    (id, room, queue, seq, body, headers_json, enqueued_at, attempts, ready_at)
``MSG_DEL``    (seq,) — a message's enqueue sequence number is its key
``MSG_UPDATE`` (attempts, ready_at, headers_json, seq)
``MSG_MOVE``   (room, queue, attempts, ready_at, headers_json, seq) — dead-letter or redrive
``DEDUP_PUT``  (room, queue, dedup_id, message_id, expires_at)
``DEDUP_PRUNE`` (room, queue, now) — forget records that expired before ``now``
=============  ===========================================================================
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

ROOM_PUT = 0
ROOM_DEL = 1
QUEUE_PUT = 2
QUEUE_DEL = 3
QUEUE_CLEAR = 4
MSG_PUT = 5
MSG_DEL = 6
MSG_UPDATE = 7
MSG_MOVE = 8
DEDUP_PUT = 9
DEDUP_PRUNE = 10

Op = tuple[int, tuple[Any, ...]]


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredQueue:
    room: str
    name: str
    max_deliveries: int
    dedup_window: float
    closed: bool
    created_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredMessage:
    id: str
    room: str
    queue: str
    seq: int
    body: str
    headers_json: str
    enqueued_at: float
    attempts: int
    ready_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredDedup:
    room: str
    queue: str
    dedup_id: str
    message_id: str
    expires_at: float


@dataclass(kw_only=True)
class Snapshot:
    """Everything a store holds; messages in ``seq`` order."""

    rooms: list[tuple[str, float]] = field(default_factory=list)
    queues: list[StoredQueue] = field(default_factory=list)
    messages: list[StoredMessage] = field(default_factory=list)
    dedup: list[StoredDedup] = field(default_factory=list)


class QueueStore(Protocol):
    """What the engine needs from durable storage."""

    async def load(self) -> Snapshot:
        """Open the store (creating it if new) and return everything it holds."""
        ...

    def submit(self, ops: list[Op]) -> asyncio.Future[None]:
        """Queue a batch of mutations; the future resolves once it is committed (or fails)."""
        ...

    async def close(self) -> None:
        """Commit what was submitted, then release the store. Safe to call twice."""
        ...
