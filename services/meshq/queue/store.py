"""The durable record behind the embedded queue engine.

A store (1) hands back the *index* at start-up: rooms, queues, dedup records, and per queue
the ready messages as (seq, enqueued_at) pairs plus the delayed ones without their bodies;
(2) applies ordered batches of mutations durably: ``submit`` returns a future that resolves
once the batch is committed, and batches are applied in submission order, so a mutation
never overtakes one submitted before it; (3) reads messages back by ``seq`` (bodies at
delivery) or by id. Leases are never stored: after a restart a message that was leased is
ready again, its attempt count as last persisted.

Each mutation is a typed batch record below: one record per kind of change and per call
("put these N messages", "delete these seqs"), not one tuple per message.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class PutRoom(NamedTuple):
    name: str
    created_at: float


class DeleteRoom(NamedTuple):
    """Its queues are deleted by their own ``DeleteQueue`` first."""

    name: str


class PutQueue(NamedTuple):
    """Insert or replace a queue's row."""

    room: str
    name: str
    max_deliveries: int
    dedup_window: float
    closed: bool
    created_at: float
    flow: str = ""
    """Flow-control settings as JSON ("" when none; see ``flow.flow_record``)."""


class DeleteQueue(NamedTuple):
    """The queue, its messages and its dedup records."""

    room: str
    name: str


class ClearQueue(NamedTuple):
    """Every message of the queue (drain)."""

    room: str
    name: str


NewRow = tuple[str, int, str, str, float]
"""One message of a ``PutMessages``: (id, seq, body, headers_json, ready_at). A plain tuple:
it is built once per sent message."""


class PutMessages(NamedTuple):
    """New messages of one queue, enqueued at one instant, attempts 0."""

    room: str
    queue: str
    enqueued_at: float
    rows: Sequence[NewRow]


class DeleteMessages(NamedTuple):
    """Messages by ``seq`` (a message's enqueue sequence number is its key)."""

    seqs: Sequence[int]


class Change(NamedTuple):
    """A message's new attempts, ready_at and headers."""

    attempts: int
    ready_at: float
    headers_json: str
    seq: int


class UpdateMessages(NamedTuple):
    changes: Sequence[Change]


class MoveMessages(NamedTuple):
    """Messages moved to another queue (dead-letter, redrive) with their changes."""

    room: str
    queue: str
    changes: Sequence[Change]


class ResetMessages(NamedTuple):
    """Messages moved to (room, queue) with attempts 0, ready at once, headers kept
    (redrive)."""

    room: str
    queue: str
    seqs: Sequence[int]


class PutDedup(NamedTuple):
    room: str
    queue: str
    dedup_id: str
    message_id: str
    expires_at: float


class PruneDedup(NamedTuple):
    """Forget the queue's records that expired before ``now``."""

    room: str
    queue: str
    now: float


Op = (PutRoom | DeleteRoom | PutQueue | DeleteQueue | ClearQueue | PutMessages
      | DeleteMessages | UpdateMessages | MoveMessages | ResetMessages | PutDedup
      | PruneDedup)


class StoredQueue(NamedTuple):
    room: str
    name: str
    max_deliveries: int
    dedup_window: float
    closed: bool
    created_at: float
    flow: str = ""


class StoredMessage(NamedTuple):
    """A message as stored (``body`` is "" in the index's delayed list: not read)."""

    id: str
    room: str
    queue: str
    seq: int
    body: str
    headers_json: str
    enqueued_at: float
    attempts: int
    ready_at: float


class StoredBody(NamedTuple):
    """What a delivery needs of a message the engine holds no object for (``read``)."""

    seq: int
    id: str
    body: str
    headers_json: str
    enqueued_at: float
    attempts: int


class StoredDedup(NamedTuple):
    room: str
    queue: str
    dedup_id: str
    message_id: str
    expires_at: float


@dataclass(kw_only=True)
class ReadyRun:
    """One queue's messages ready at load time, in ``seq`` order: (seq, enqueued_at) pairs
    interleaved in one array of doubles (``state.ColdQueue``'s layout)."""

    room: str
    queue: str
    pairs: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.pairs) // 2


@dataclass(kw_only=True)
class Snapshot:
    """The index a store hands back at start-up."""

    rooms: list[tuple[str, float]] = field(default_factory=list)
    queues: list[StoredQueue] = field(default_factory=list)
    ready: list[ReadyRun] = field(default_factory=list)
    """Per (room, queue) holding any: what is ready at ``now`` (no bodies)."""
    delayed: list[StoredMessage] = field(default_factory=list)
    """Messages whose ``ready_at`` is after ``now``, bodies left out, in ``seq`` order."""
    dedup: list[StoredDedup] = field(default_factory=list)
    max_seq: int = 0
    count: int = 0
    """Messages in the index (ready and delayed)."""


ID_PREFIX_CHARS = 10  # hex of a random per-process prefix: ids stay unique across restarts
ID_SEQ_CHARS = 12  # hex of the message's seq, so a store finds a message by id via its key


def message_id(prefix: str, seq: int) -> str:
    """The id of the message with ``seq``, sent by the process with ``prefix``."""
    return f"{prefix}{seq:012x}"


def message_seq(message_id: str) -> int | None:
    """The seq an id made by ``message_id`` carries; None for other ids (older meshq)."""
    if len(message_id) != ID_PREFIX_CHARS + ID_SEQ_CHARS:
        return None
    try:
        return int(message_id[ID_PREFIX_CHARS:], 16)
    except ValueError:
        return None


class QueueStore(Protocol):
    """What the embedded engine needs from durable storage."""

    async def load(self, now: float) -> Snapshot:
        """Open the store (creating it if new) and return its index at wall time ``now``."""
        ...

    def submit(self, ops: list[Op]) -> asyncio.Future[None]:
        """Queue a batch of mutations; the future resolves once it is committed (or fails)."""
        ...

    async def read(self, seqs: Sequence[int]) -> list[StoredBody]:
        """The committed messages with these seqs (missing ones left out), in any order."""
        ...

    async def find(self, message_id: str) -> StoredMessage | None:
        """The committed message with this id, body left out."""
        ...

    async def close(self) -> None:
        """Commit what was submitted, then release the store. Safe to call twice."""
        ...
