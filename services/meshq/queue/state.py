"""The engine's in-memory state: rooms, queues, messages and the ready index.

Everything here is plain, synchronous and owned by one event loop. A message is one ``Msg``
object for its whole life in a queue; each state change bumps ``Msg.ver`` so that entries left
behind in the ready index or the delayed heap are recognised as stale and skipped (lazy
deletion: no index is ever searched).
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from meshq.queue.model import QueueOptions

if TYPE_CHECKING:
    from meshq.queue.subscription import Subscription

READY = 1
DELAYED = 2
LEASED = 3
GONE = 4


class Msg:
    """One stored message and, while leased, its current lease."""

    __slots__ = (
        "id",
        "body",
        "headers",
        "headers_json",
        "enqueued_at",
        "attempts",
        "seq",
        "ready_at",
        "state",
        "ver",
        "q",
        "token",
        "lease_expires",
        "lease_key",
        "delivered_at",
        "owner",
    )

    def __init__(
        self,
        id: str,
        body: str,
        headers: dict[str, str],
        headers_json: str,
        enqueued_at: float,
        attempts: int,
        seq: int,
        ready_at: float,
        q: QueueState,
    ) -> None:
        self.id = id
        self.body = body
        self.headers = headers
        self.headers_json = headers_json
        self.enqueued_at = enqueued_at
        self.attempts = attempts  # failed deliveries so far (expiries and nacks)
        self.seq = seq  # enqueue order: FIFO among ready messages
        self.ready_at = ready_at
        self.state = GONE
        self.ver = 0
        self.q = q
        self.token = ""
        self.lease_expires = 0.0
        self.lease_key = 0
        self.delivered_at = 0.0
        self.owner: Subscription | None = None


class ReadyIndex:
    """Ready messages in enqueue order.

    Fresh sends arrive in increasing ``seq`` and go to a deque; messages that come back
    (expiry, nack, hand-back, end of a delay) go to a heap. ``pop`` takes the smaller head.
    """

    __slots__ = ("_fresh", "_back", "_last_fresh")

    def __init__(self) -> None:
        self._fresh: deque[tuple[int, int, Msg]] = deque()
        self._back: list[tuple[int, int, Msg]] = []
        self._last_fresh = -1

    def push(self, msg: Msg) -> None:
        entry = (msg.seq, msg.ver, msg)
        if msg.seq > self._last_fresh:
            self._fresh.append(entry)
            self._last_fresh = msg.seq
        else:
            heapq.heappush(self._back, entry)

    def _drop_stale(self) -> None:
        fresh, back = self._fresh, self._back
        while fresh and _stale(fresh[0]):
            fresh.popleft()
        while back and _stale(back[0]):
            heapq.heappop(back)

    def pop(self) -> Msg | None:
        self._drop_stale()
        fresh, back = self._fresh, self._back
        if fresh and (not back or fresh[0][0] < back[0][0]):
            return fresh.popleft()[2]
        if back:
            return heapq.heappop(back)[2]
        return None

    def first(self) -> Msg | None:
        """The oldest ready message, without removing it."""
        self._drop_stale()
        heads = [e for e in (self._fresh[0] if self._fresh else None,
                             self._back[0] if self._back else None) if e is not None]
        return min(heads, key=lambda e: e[0])[2] if heads else None

    def in_order(self) -> Iterator[Msg]:
        """Every ready message, oldest first (for peek; not for the hot path)."""
        live = [e for e in self._fresh if not _stale(e)]
        live.extend(e for e in self._back if not _stale(e))
        live.sort(key=lambda e: e[0])
        return (e[2] for e in live)

    def clear(self) -> None:
        self._fresh.clear()
        self._back.clear()


def _stale(entry: tuple[int, int, Msg]) -> bool:
    msg = entry[2]
    return msg.state != READY or msg.ver != entry[1]


class QueueState:
    """One queue: its messages by id, ready index, lease table and dedup map."""

    __slots__ = (
        "room",
        "name",
        "options",
        "closed",
        "created_at",
        "msgs",
        "ready",
        "leases",
        "dedup",
        "dedup_order",
        "n_ready",
        "n_delayed",
        "pending",
        "epoch",
        "deleted",
        "waiters",
        "subs",
    )

    def __init__(self, room: str, name: str, options: QueueOptions, created_at: float) -> None:
        self.room = room
        self.name = name
        self.options = options
        self.closed = False
        self.created_at = created_at
        self.msgs: dict[str, Msg] = {}
        self.ready = ReadyIndex()
        self.leases: dict[str, Msg] = {}  # lease token -> message
        self.dedup: dict[str, DedupEntry] = {}
        # (expires_at, dedup_id), a heap: messages may carry their own dedup window
        self.dedup_order: list[tuple[float, str]] = []
        self.n_ready = 0
        self.n_delayed = 0
        self.pending = 0  # messages of sends not yet committed (count toward max_depth)
        self.epoch = 0  # bumped by drain/delete: a send committed across it is not applied
        self.deleted = False
        self.waiters: set[asyncio.Event] = set()
        self.subs: set[Subscription] = set()

    def wake(self) -> None:
        """Wake every consumer waiting for ready messages (or for the queue to go away)."""
        if self.waiters:
            for event in self.waiters:
                event.set()
            self.waiters.clear()

    def end_streams(self) -> None:
        """Detach every subscription (no hand-back) and wake every waiter: the queue is going
        away, or the engine is stopping."""
        for sub in list(self.subs):
            sub.detach()
        self.wake()

    def make_ready(self, msg: Msg) -> None:
        msg.state = READY
        msg.ver += 1
        self.n_ready += 1
        self.ready.push(msg)

    def depth(self) -> int:
        return len(self.msgs) + self.pending


class DedupEntry:
    """A remembered dedup_id: the first message's id, until ``expires_at``."""

    __slots__ = ("message_id", "expires_at", "commit")

    def __init__(
        self, message_id: str, expires_at: float, commit: asyncio.Future[None] | None
    ) -> None:
        self.message_id = message_id
        self.expires_at = expires_at
        self.commit = commit  # the pending Send's commit; None once durable


class RoomState:
    __slots__ = ("name", "created_at", "queues")

    def __init__(self, name: str, created_at: float) -> None:
        self.name = name
        self.created_at = created_at
        self.queues: dict[str, QueueState] = {}
