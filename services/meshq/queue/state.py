"""The engine's in-memory state: rooms, queues, the messages it holds objects for, and the
ready index. A leaf: it imports only plain data (``model``).

Memory keeps what ordering, leasing, delays and dedup need, not every body. A message is
either *cold*, two numbers in its queue's ``ColdQueue`` (enqueue sequence number and enqueue
time: 16 bytes), or a ``Msg`` object: while leased, delayed, handed back, and for fresh sends
while the engine's body budget allows (then its body stays in memory too, so a shallow queue
delivers without reading the store). A restart loads every ready message cold. A cold message
(or a ``Msg`` without its body) is read from the store when it is delivered.

Everything here is plain, synchronous and owned by one event loop. Each state change of a
``Msg`` bumps ``Msg.ver`` so that entries left behind in the ready index or the delayed heap
are recognised as stale and skipped (lazy deletion: no index is ever searched).
"""

from __future__ import annotations

import asyncio
import heapq
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from meshq.queue.model import QueueOptions

READY = 1
DELAYED = 2
LEASED = 3
GONE = 4
FETCHING = 5  # taken for delivery, its body being read from the store


class BodyBudget:
    """How many body bytes the engine may keep in memory for messages not yet delivered.

    Under it, a fresh send keeps its body (delivered without a store read); over it, the
    message goes cold. Bodies read for a delivery are not counted: they are dropped again
    when the message returns to the queue.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def free(self, n: int) -> None:
        self.used -= n


class LeaseOwner(Protocol):
    """Whoever holds leases handed out by the engine (a streaming subscription)."""

    def leased(self, tokens: Sequence[str]) -> None:
        """These deliveries are now this owner's."""

    def settled(self, tokens: Iterable[str]) -> None:
        """These leases ended (acked, nacked, expired, drained): their credit is free."""

    def detach(self) -> None:
        """The queue is going away or the engine is stopping: end without a hand-back."""

    def wake(self) -> None:
        """Something changed that may let the owner take more deliveries."""


class Msg:
    """One message the engine holds an object for and, while leased, its current lease.

    ``body`` is None when it lives only in the store (read at delivery); ``cached`` is the
    number of body bytes counted against the engine's body budget (0: not counted).
    Lease times (``lease_expires``, ``delivered_at``, ``due``) are on the monotonic clock;
    ``enqueued_at`` and ``ready_at`` are stored instants on the wall clock.
    """

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
        "due",
        "owner",
        "cached",
    )

    def __init__(
        self,
        id: str,
        body: str | None,
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
        self.due = 0.0  # monotonic instant a delay ends
        self.owner: LeaseOwner | None = None
        self.cached = 0


class ColdQueue:
    """Ready messages without an object: (seq, enqueued_at) pairs in increasing ``seq``.

    One flat array of doubles, seq and enqueue time interleaved (16 bytes a message; a seq is
    exact as a double up to 2**53), and a head offset: popped from the front. A store hands
    its index over in the same layout, so a restart builds it without a Python loop.
    """

    __slots__ = ("_data", "_head")

    def __init__(self) -> None:
        self._data = array("d")
        self._head = 0  # index of the first live seq in _data

    def __len__(self) -> int:
        return (len(self._data) - self._head) // 2

    def last_seq(self) -> int:
        return int(self._data[-2]) if len(self) else -1

    def append(self, seq: int, enqueued_at: float) -> None:
        self._data.append(seq)
        self._data.append(enqueued_at)

    def extend(self, pairs: array[float]) -> None:
        """Append (seq, enqueued_at) pairs, interleaved, seqs increasing."""
        self._data.extend(pairs)

    def head(self) -> tuple[int, float]:
        i = self._head
        return int(self._data[i]), self._data[i + 1]

    def head_seq(self) -> int:
        return int(self._data[self._head])

    def popleft(self) -> int:
        data = self._data
        seq = int(data[self._head])
        self._head += 2
        if self._head >= 8192 and self._head * 2 >= len(data):
            del data[:self._head]
            self._head = 0
        return seq

    def first(self, n: int) -> list[tuple[int, float]]:
        i = self._head
        chunk = self._data[i:i + 2 * n]
        return [(int(chunk[j]), chunk[j + 1]) for j in range(0, len(chunk), 2)]

    def clear(self) -> None:
        self._data = array("d")
        self._head = 0


Entry = Msg | int
"""What the ready index hands out: a ``Msg``, or the ``seq`` of a cold message."""


class ReadyIndex:
    """Ready messages in enqueue order, from three sources each sorted by ``seq``.

    Fresh sends kept as objects go to a deque; messages that come back (expiry, nack,
    hand-back, end of a delay, redrive) to a heap; cold messages to a ``ColdQueue``.
    ``pop`` takes the smallest head.
    """

    __slots__ = ("_fresh", "_back", "_last_fresh", "cold", "_back_cold")

    def __init__(self) -> None:
        self._fresh: deque[tuple[int, int, Msg]] = deque()
        self._back: list[tuple[int, int, Msg]] = []
        self._last_fresh = -1
        self.cold = ColdQueue()
        self._back_cold: list[tuple[int, float]] = []  # cold ones out of order (redrive)

    def push_cold(self, seq: int, enqueued_at: float) -> None:
        """A cold message in any order (the caller counts it ready)."""
        if seq > self.cold.last_seq():
            self.cold.append(seq, enqueued_at)
        else:
            heapq.heappush(self._back_cold, (seq, enqueued_at))

    def cold_count(self) -> int:
        return len(self.cold) + len(self._back_cold)

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

    def pop(self) -> Entry | None:
        self._drop_stale()
        fresh, back, cold = self._fresh, self._back, self.cold
        best = fresh[0][0] if fresh else None
        if back and (best is None or back[0][0] < best):
            best = back[0][0]
        if len(cold) and (best is None or cold.head_seq() < best):
            best = cold.head_seq()
        if self._back_cold and (best is None or self._back_cold[0][0] < best):
            return heapq.heappop(self._back_cold)[0]
        if best is None:
            return None
        if fresh and fresh[0][0] == best:
            return fresh.popleft()[2]
        if back and back[0][0] == best:
            return heapq.heappop(back)[2]
        return cold.popleft()

    def pop_many(self, n: int) -> list[Entry]:
        """Up to ``n`` entries, as ``n`` calls of ``pop`` would give them; while every ready
        message is a fresh object (the common case), straight off the deque."""
        out: list[Entry] = []
        if self._back or self._back_cold or len(self.cold):
            for _ in range(n):
                entry = self.pop()
                if entry is None:
                    break
                out.append(entry)
            return out
        fresh, append = self._fresh, out.append
        while fresh and len(out) < n:
            seq, ver, msg = fresh.popleft()
            if msg.state == READY and msg.ver == ver:
                append(msg)
        return out

    def oldest_enqueued_at(self) -> float | None:
        """When the oldest ready message was enqueued (None when there is none)."""
        self._drop_stale()
        heads: list[tuple[int, float]] = []
        if self._fresh:
            heads.append((self._fresh[0][0], self._fresh[0][2].enqueued_at))
        if self._back:
            heads.append((self._back[0][0], self._back[0][2].enqueued_at))
        if len(self.cold):
            heads.append(self.cold.head())
        if self._back_cold:
            heads.append(self._back_cold[0])
        return min(heads)[1] if heads else None

    def first(self, n: int) -> list[Entry]:
        """The ``n`` oldest ready entries, without removing them (peek, redrive)."""
        live = [(e[0], e[2]) for e in self._fresh if not _stale(e)][:n]
        live.extend((e[0], e[2]) for e in heapq.nsmallest(
            n, (e for e in self._back if not _stale(e))))
        merged: list[tuple[int, Entry]] = [*live, *((s, s) for s, _ in self.cold.first(n))]
        merged.extend((s, s) for s, _ in heapq.nsmallest(n, self._back_cold))
        merged.sort(key=lambda pair: pair[0])
        return [entry for _, entry in merged[:n]]

    def drain(self) -> list[tuple[int, Entry, float]]:
        """Remove every live entry: (seq, entry, enqueued_at), oldest first (redrive)."""
        out: list[tuple[int, Entry, float]] = [
            (e[0], e[2], e[2].enqueued_at) for e in (*self._fresh, *self._back) if not _stale(e)]
        cold = self.cold
        out.extend((seq, seq, t) for seq, t in cold.first(len(cold)))
        out.extend((seq, seq, t) for seq, t in self._back_cold)
        out.sort(key=lambda x: x[0])
        self.clear()
        return out

    def clear(self) -> None:
        self._fresh.clear()
        self._back.clear()
        self.cold.clear()
        self._back_cold.clear()


def _stale(entry: tuple[int, int, Msg]) -> bool:
    msg = entry[2]
    return msg.state != READY or msg.ver != entry[1]


class QueueState:
    """One queue: its message objects by id, ready index, lease table and dedup map."""

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
        "fetching",
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
        self.msgs: dict[str, Msg] = {}  # message objects only; cold ones live in ready.cold
        self.ready = ReadyIndex()
        self.leases: dict[str, Msg] = {}  # lease token -> message
        self.dedup: dict[str, DedupEntry] = {}
        # (expires_at, dedup_id), a heap: messages may carry their own dedup window
        self.dedup_order: list[tuple[float, str]] = []
        self.n_ready = 0  # ready messages, objects and cold ones
        self.n_delayed = 0
        self.pending = 0  # messages of sends not yet committed (count toward max_depth)
        self.fetching = 0  # taken from the ready index, bodies being read from the store
        self.epoch = 0  # bumped by drain/delete: a send or read across it is not applied
        self.deleted = False
        self.waiters: set[asyncio.Event] = set()
        self.subs: set[LeaseOwner] = set()

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

    def add_cold(self, seq: int, enqueued_at: float) -> None:
        """A ready message kept without an object (its seq above every cold one so far)."""
        self.ready.cold.append(seq, enqueued_at)
        self.n_ready += 1

    def size(self) -> int:
        """Messages held in any state (objects, cold ones, ones being read)."""
        return len(self.msgs) + self.ready.cold_count() + self.fetching

    def depth(self) -> int:
        return self.size() + self.pending



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
