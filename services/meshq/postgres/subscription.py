"""A streaming consumer on the PostgreSQL backend: a credit window over one queue.

Same shape as the embedded ``Subscription``. ``next_batch`` claims up to the free credit;
with nothing ready it waits for a wakeup (NOTIFY from any replica, a local send, freed
credit) or ``RECHECK_SECONDS``, whichever comes first. The tokens it holds are forgotten when
settled through this replica, or once their lease has expired (a settle through another
replica is not seen here; the lease's own end frees the credit then).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from meshq.postgres.wakeups import RECHECK_SECONDS, Wakeups
from meshq.queue.model import Delivery
from meshq.queue.subscription import check_window


class Claims(Protocol):
    """What a subscription needs of the backend."""

    async def claim_for(self, sub: PgSubscription, n: int, *,
                        known_open: bool = False) -> list[Delivery] | None:
        """Lease up to n for ``sub``; None when the queue is gone (the stream ends). With
        ``known_open`` an empty claim is not followed by a look at whether it is gone."""

    async def hand_back(self, sub: PgSubscription) -> None:
        """Return the subscription's unsettled leases, attempt unchanged."""

    def give_back(self, sub: PgSubscription, tokens: list[str]) -> None:
        """Return these leases in the background, attempt unchanged."""


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
        self._wanting = False
        self._inbox: list[Delivery] = []
        self._reserved = 0
        self._delivered = False
        """The last ``next_batch`` returned deliveries (the queue existed a moment ago)."""
        self.unsettled: dict[str, float] = {}
        """Lease tokens delivered and not yet settled -> their expiry (monotonic seconds)."""
        wakeups.add(room, queue, self._event)

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

    def handoff_room(self) -> int:
        """How many new messages a local send may lease straight to this consumer: its free
        credit while it wants deliveries (inside ``next_batch``), else 0."""
        if not self._wanting or self._closed:
            return 0
        return max(0, self._max - len(self.unsettled) - self._reserved)

    def reserve(self, n: int) -> None:
        self._reserved += n

    def release(self, n: int) -> None:
        self._reserved -= n

    def offer(self, deliveries: list[Delivery]) -> bool:
        """Take deliveries leased to this consumer by a send; False if it closed meanwhile
        (the caller hands them back)."""
        self._reserved -= len(deliveries)
        if self._closed:
            return False
        expires = time.monotonic() + self._lease
        self.unsettled.update((d.lease_token, expires) for d in deliveries)
        self._inbox.extend(deliveries)
        self._event.set()
        return True

    async def next_batch(self) -> list[Delivery]:
        """Wait for at least one delivery within the free credit; ``[]`` once closed.

        The wake event is cleared before each claim, so a wakeup that comes while the claim
        runs is not lost. A hand-off that arrives while a claim runs may pass the credit
        window; the surplus is handed back at once.
        """
        self._wanting = True
        # Right after a delivery the queue is known to exist: the first claim skips the
        # "is it gone?" statement; a claim after a wait (wakeup or RECHECK_SECONDS) makes it,
        # so a deleted queue still ends the stream within about a second.
        known_open, self._delivered = self._delivered, False
        try:
            while not self._closed:
                self._event.clear()
                if self._inbox:
                    self._delivered = True
                    return self._take_inbox()
                self._forget_expired()
                free = self._max - len(self.unsettled) - self._reserved
                if free > 0:
                    batch = await self._backend.claim_for(self, free, known_open=known_open)
                    if batch is None:
                        self.detach()
                        break
                    if batch:
                        expires = time.monotonic() + self._lease
                        self.unsettled.update((d.lease_token, expires) for d in batch)
                        self._delivered = True
                        return batch + self._take_inbox()
                known_open = False
                if self._inbox:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECHECK_SECONDS):
                        await self._event.wait()
            return []
        finally:
            self._wanting = False

    def _take_inbox(self) -> list[Delivery]:
        """The handed-off deliveries, less any surplus over the credit (handed back)."""
        handed, self._inbox = self._inbox, []
        over = len(self.unsettled) - self._max
        if over > 0:
            surplus, handed = handed[-over:], handed[:-over]
            tokens = [d.lease_token for d in surplus]
            for token in tokens:
                self.unsettled.pop(token, None)
            self._backend.give_back(self, tokens)
        return handed

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
        self._wakeups.discard(self._room, self._queue, self._event)
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
            self._wakeups.discard(self._room, self._queue, self._event)
            self.unsettled.clear()
            self._on_close(self)
