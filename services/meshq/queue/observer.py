"""Hooks the queue engine calls as things happen; metrics plug in here, not in the engine.

Each hook does nothing by default. The engine calls them synchronously on the event loop, so
an implementation must be cheap and must not raise. Gauges (depth, in flight, oldest age) are
not pushed through here: a collector reads ``QueueEngine.list_queues`` at scrape time.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshq.queue.model import Delivery


class QueueObserver:
    """No-op base: subclass and override what you watch."""

    def sent(self, room: str, queue: str, count: int) -> None:
        """``count`` messages were committed by Send (duplicates excluded)."""

    def delivered(self, room: str, queue: str, deliveries: Sequence[Delivery], now: float) -> None:
        """Deliveries left for a consumer; ``attempt == 1`` ones give time in queue."""

    def acked(self, room: str, queue: str, held_seconds: Sequence[float]) -> None:
        """Acks committed; one entry per ack: seconds from delivery to ack."""

    def nacked(self, room: str, queue: str, count: int) -> None:
        """Nacks (including hand-backs of a closed stream) committed."""

    def lease_expired(self, room: str, queue: str, count: int) -> None:
        """Leases expired; their messages return to the queue (redelivery)."""

    def dead_lettered(self, room: str, queue: str, count: int) -> None:
        """Messages moved from ``queue`` to its dead-letter queue."""

    def stale_settled(self, room: str, queue: str, count: int) -> None:
        """Acks, nacks or extensions refused because their token was stale or unknown."""

    def stream_opened(self, room: str, queue: str) -> None:
        """A Subscribe stream opened."""

    def stream_closed(self, room: str, queue: str) -> None:
        """A Subscribe stream closed."""
