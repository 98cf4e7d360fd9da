"""A streaming consumer on the PostgreSQL backend: a credit window over one queue.

Same shape as the embedded ``Subscription``. ``next_batch`` claims up to the free credit;
with nothing ready it waits for a wakeup (NOTIFY from any replica, a local send, freed
credit) or ``RECHECK_SECONDS``, whichever comes first. The tokens it holds are forgotten when
settled through this replica, or once their lease has expired (a settle through another
replica is not seen here; the lease's own end frees the credit then).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from meshq.postgres.wakeups import RECHECK_SECONDS, Wakeups
from meshq.queue.model import Delivery
from meshq.queue.subscription import check_window


class Claims(Protocol):
    """What a subscription needs of the backend."""

    async def claim_for(self, sub: PgSubscription, n: int) -> list[Delivery] | None:
        """Lease up to n for ``sub``; None when the queue is gone (the stream ends)."""

    async def hand_back(self, sub: PgSubscription) -> None:
        """Return the subscription's unsettled leases, attempt unchanged."""


class PgSubscription:
    """Deliveries for one consumer, at most ``max_in_flight`` unsettled at a time."""

    def __init__(self, backend: Claims, wakeups: Wakeups, room: str, queue: str,
                 max_in_flight: int, lease: float,
                 on_close: Callable[[PgSubscription], None]) -> None:
        self._backend = backend
        self._wakeups = wakeups
        self._room = room
        self._queue = queue
        self._max = max_in_flight
        self._lease = lease
        self._event = asyncio.Event()
        self._closed = False
        self._on_close = on_close
        self.unsettled: dict[str, float] = {}
        """Lease tokens delivered and not yet settled -> their expiry (monotonic seconds)."""

    @property
    def room(self) -> str:
        return self._room

    @property
    def queue(self) -> str:
        return self._queue

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def max_in_flight(self) -> int:
        return self._max

    @property
    def lease_seconds(self) -> float:
        return self._lease

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, expires in self.unsettled.items() if expires <= now]:
            del self.unsettled[token]

    async def next_batch(self) -> list[Delivery]:
        """Wait for at least one delivery within the free credit; ``[]`` once closed."""
        while not self._closed:
            self._forget_expired()
            free = self._max - len(self.unsettled)
            if free > 0:
                batch = await self._backend.claim_for(self, free)
                if batch is None:
                    self.detach()
                    break
                if batch:
                    expires = time.monotonic() + self._lease
                    self.unsettled.update((d.lease_token, expires) for d in batch)
                    return batch
            self._event.clear()
            await self._wakeups.wait(self._room, self._queue, RECHECK_SECONDS, self._event)
        return []

    def set_max_in_flight(self, n: int) -> None:
        """Change the credit window; 0 pauses deliveries."""
        self._max = check_window(n, minimum=0)
        self._event.set()

    def settled(self, token: str) -> None:
        """A lease of this consumer ended through this replica."""
        if self.unsettled.pop(token, None) is not None:
            self._event.set()

    def extended(self, token: str, seconds: float) -> None:
        if token in self.unsettled:
            self.unsettled[token] = time.monotonic() + seconds

    def wake(self) -> None:
        self._event.set()

    async def close(self) -> None:
        """Hand unsettled deliveries back (attempt unchanged) and stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._event.set()
        try:
            await self._backend.hand_back(self)
        finally:
            self.unsettled.clear()
            self._on_close(self)

    def detach(self) -> None:
        """Close without hand-back (the queue is gone or the backend is stopping)."""
        if not self._closed:
            self._closed = True
            self._event.set()
            self.unsettled.clear()
            self._on_close(self)
