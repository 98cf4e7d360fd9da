"""A streaming consumer's side of the engine: a credit window over one queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown
from meshq.queue.leaser import Leaser
from meshq.queue.model import Delivery
from meshq.queue.state import QueueState

MAX_IN_FLIGHT_LIMIT = 100_000


def check_window(n: int, *, minimum: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not minimum <= n <= MAX_IN_FLIGHT_LIMIT:
        raise InvalidArgument(
            f"max_in_flight must be between {minimum} and {MAX_IN_FLIGHT_LIMIT}, got {shown(n)}"
        )
    return n


class Subscription:
    """Deliveries for one consumer, at most ``max_in_flight`` unsettled at a time.

    ``next_batch`` waits on an event set by the engine when messages become ready, credit is
    freed, or the subscription closes. Settle deliveries through the backend's ``ack`` /
    ``nack`` / ``extend`` with the lease tokens; ``close`` hands unsettled ones back at once.
    The engine tells it about its leases through the ``LeaseOwner`` methods (``leased``,
    ``settled``, ``detach``, ``wake``); nothing else changes its state.
    """

    def __init__(self, leaser: Leaser, q: QueueState, max_in_flight: int, lease: float) -> None:
        self._leaser = leaser
        self._q = q
        self._max = max_in_flight
        self._lease = lease
        self._event = asyncio.Event()
        self._closed = False
        self._unsettled: set[str] = set()

    @property
    def room(self) -> str:
        return self._q.room

    @property
    def queue(self) -> str:
        return self._q.name

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def max_in_flight(self) -> int:
        return self._max

    @property
    def lease_seconds(self) -> float:
        return self._lease

    @property
    def unsettled(self) -> int:
        """Deliveries handed to this consumer and not settled yet."""
        return len(self._unsettled)

    async def next_batch(self) -> list[Delivery]:
        """Wait for at least one delivery within the free credit; ``[]`` once closed."""
        while not self._closed:
            q = self._q
            if q.deleted:
                await self.close()
                break
            free = self._max - len(self._unsettled)
            if free > 0 and q.n_ready and not q.closed:
                batch = await self._leaser.take(q, free, self._lease, self)
                if self._closed:  # closed while the bodies were read: hand them back
                    self._leaser.hand_back(q, [d.lease_token for d in batch])
                    break
                if batch:
                    return batch
            self._event.clear()
            q.waiters.add(self._event)
            await self._event.wait()
        return []

    def set_max_in_flight(self, n: int) -> None:
        """Change the credit window; 0 pauses deliveries."""
        self._max = check_window(n, minimum=0)
        self._event.set()

    # -- LeaseOwner -------------------------------------------------------------------------

    def leased(self, tokens: Sequence[str]) -> None:
        self._unsettled.update(tokens)

    def settled(self, tokens: Iterable[str]) -> None:
        unsettled = self._unsettled
        for token in tokens:
            unsettled.discard(token)
        if self._q.n_ready:
            self._event.set()

    def wake(self) -> None:
        self._event.set()

    def detach(self) -> None:
        """Close without hand-back (the queue is gone or the engine is stopping)."""
        if not self._closed:
            self._closed = True
            self._event.set()
            self._unsettled.clear()
            self._leaser.detached(self._q, self)

    async def close(self) -> None:
        """Hand unsettled deliveries back (attempt unchanged) and stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._event.set()
        tokens, self._unsettled = list(self._unsettled), set()
        self._leaser.hand_back(self._q, tokens)
        self._leaser.detached(self._q, self)
