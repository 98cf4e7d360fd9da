"""Deadlines of the whole engine behind ONE event-loop timer: delays ending, leases expiring.

A leaf: it knows the objects it times only by the attributes of ``Timed``, and works on the
monotonic clock it is given (so a step of the wall clock never expires a lease or ends a
delay early; wall-clock instants are only what is stored).

Delayed messages sit in a heap by ``due``. Leases sit in buckets of ``LEASE_GRAIN`` seconds
(a dict of tokens per bucket, a heap of bucket keys): settling a lease removes it from its
bucket at once, so acked messages are not kept alive until their old deadline, and one
delivered batch costs one heap entry. A lease therefore expires up to ``LEASE_GRAIN`` late,
never early. The timer is a single ``loop.call_at`` re-armed to the earliest deadline; nothing
polls.

Liveness: a delayed entry is live while the object's ``ver`` is the one it was added with
(every state change bumps it); a lease entry while the object's ``token`` is the entry's
(every end of a lease clears it).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

LEASE_GRAIN = 0.01  # seconds per lease bucket


class Timed(Protocol):
    due: float
    seq: int
    ver: int
    token: str
    lease_expires: float
    lease_key: int


T = TypeVar("T", bound=Timed)


class Timers(Generic[T]):
    """Deadline bookkeeping; ``on_fire`` runs on the loop when the earliest one is due."""

    def __init__(self, clock: Callable[[], float], on_fire: Callable[[], None]) -> None:
        self._clock = clock
        self._on_fire = on_fire
        self._delayed: list[tuple[float, int, int, T]] = []
        self._bucket_keys: list[int] = []
        self._buckets: dict[int, dict[str, T]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_for = math.inf
        self._loop = None

    def add_delayed(self, item: T) -> None:
        heapq.heappush(self._delayed, (item.due, item.seq, item.ver, item))
        if item.due < self._armed_for:
            self.arm()

    def add_lease(self, item: T) -> None:
        key = math.ceil(item.lease_expires / LEASE_GRAIN)
        item.lease_key = key
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[item.token] = item
            return
        self._buckets[key] = {item.token: item}
        heapq.heappush(self._bucket_keys, key)
        if key * LEASE_GRAIN < self._armed_for:
            self.arm()

    def remove_lease(self, item: T) -> None:
        bucket = self._buckets.get(item.lease_key)
        if bucket is not None:
            bucket.pop(item.token, None)

    def due(self, now: float) -> tuple[list[T], list[T]]:
        """Pop what is due at ``now``: (expired leases, delayed items now ready)."""
        expired: list[T] = []
        keys, buckets = self._bucket_keys, self._buckets
        while keys and keys[0] * LEASE_GRAIN <= now:
            bucket = buckets.pop(heapq.heappop(keys), None)
            if bucket:
                expired.extend(m for t, m in bucket.items() if m.token == t)
        ready: list[T] = []
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            _, _, ver, item = heapq.heappop(delayed)
            if item.ver == ver:
                ready.append(item)
        return expired, ready

    def next_deadline(self) -> float:
        delayed, keys, buckets = self._delayed, self._bucket_keys, self._buckets
        while delayed and delayed[0][3].ver != delayed[0][2]:
            heapq.heappop(delayed)
        while keys and not buckets.get(keys[0]):
            buckets.pop(heapq.heappop(keys), None)
        first = delayed[0][0] if delayed else math.inf
        if keys:
            first = min(first, keys[0] * LEASE_GRAIN)
        return first

    def arm(self) -> None:
        """(Re)schedule the one timer for the earliest live deadline."""
        loop = self._loop
        if loop is None:
            return
        when = self.next_deadline()
        if self._handle is not None:
            if when == self._armed_for:
                return
            self._handle.cancel()
            self._handle = None
        self._armed_for = when
        if when != math.inf:
            delay = max(0.0, when - self._clock())
            self._handle = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = math.inf
        self._on_fire()
