"""Deadlines of the whole engine behind ONE event-loop timer: delays ending, leases expiring.

Delayed messages sit in a heap by ``ready_at``. Leases sit in buckets of ``LEASE_GRAIN``
seconds (a dict of tokens per bucket, a heap of bucket keys): settling a lease removes it from
its bucket at once, so acked messages are not kept alive until their old deadline, and one
delivered batch costs one heap entry. A lease therefore expires up to ``LEASE_GRAIN`` late,
never early. The timer is a single ``loop.call_at`` re-armed to the earliest deadline; nothing
polls.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable

from meshq.queue.state import DELAYED, LEASED, Msg

LEASE_GRAIN = 0.01  # seconds per lease bucket


class Timers:
    """Deadline bookkeeping; ``on_fire`` runs on the loop when the earliest one is due."""

    def __init__(self, clock: Callable[[], float], on_fire: Callable[[], None]) -> None:
        self._clock = clock
        self._on_fire = on_fire
        self._delayed: list[tuple[float, int, int, Msg]] = []
        self._bucket_keys: list[int] = []
        self._buckets: dict[int, dict[str, Msg]] = {}
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

    def add_delayed(self, msg: Msg) -> None:
        heapq.heappush(self._delayed, (msg.ready_at, msg.seq, msg.ver, msg))
        if msg.ready_at < self._armed_for:
            self.arm()

    def add_lease(self, msg: Msg) -> None:
        key = math.ceil(msg.lease_expires / LEASE_GRAIN)
        msg.lease_key = key
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[msg.token] = msg
            return
        self._buckets[key] = {msg.token: msg}
        heapq.heappush(self._bucket_keys, key)
        if key * LEASE_GRAIN < self._armed_for:
            self.arm()

    def remove_lease(self, msg: Msg) -> None:
        bucket = self._buckets.get(msg.lease_key)
        if bucket is not None:
            bucket.pop(msg.token, None)

    def due(self, now: float) -> tuple[list[Msg], list[Msg]]:
        """Pop what is due at ``now``: (expired leases, delayed messages now ready)."""
        expired: list[Msg] = []
        keys, buckets = self._bucket_keys, self._buckets
        while keys and keys[0] * LEASE_GRAIN <= now:
            bucket = buckets.pop(heapq.heappop(keys), None)
            if bucket:
                expired.extend(m for t, m in bucket.items() if m.state == LEASED and m.token == t)
        ready: list[Msg] = []
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            _, _, ver, msg = heapq.heappop(delayed)
            if msg.state == DELAYED and msg.ver == ver:
                ready.append(msg)
        return expired, ready

    def next_deadline(self) -> float:
        delayed, keys, buckets = self._delayed, self._bucket_keys, self._buckets
        while delayed and (delayed[0][3].state != DELAYED or delayed[0][3].ver != delayed[0][2]):
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
