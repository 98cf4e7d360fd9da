"""Hooks the queue engine calls as things happen; metrics plug in here, not in the engine.

Each hook does nothing by default. The engine calls them synchronously on the event loop, so
an implementation must be cheap; one that raises is logged and ignored (``GuardedObserver``). Gauges (depth, in flight, oldest age) are
not pushed through here: a collector reads ``QueueEngine.list_queues`` at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from meshq.queue.model import Delivery

logger = logging.getLogger(__name__)


class QueueObserver:
    """No-op base: subclass and override what you watch."""

    def sent(self, room: str, queue: str, count: int) -> None:
        """``count`` messages were committed by one Send (duplicates excluded)."""

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

    def rate_limit_waited(self, room: str, queue: str, seconds: float) -> None:
        """Deliveries waited ``seconds`` on the queue's rate limit (reported when the wait
        ends)."""


class GuardedObserver(QueueObserver):
    """Wraps an observer so that a hook that raises is logged and changes nothing else.

    The engine calls hooks after it has changed state (a lease taken, a send placed); an
    exception escaping there would strand that change half-reported, so none may escape.
    """

    def __init__(self, inner: QueueObserver) -> None:
        self._inner = inner

    def _failed(self, hook: str) -> None:
        logger.exception("queue observer hook %s failed; ignored", hook)

    def sent(self, room: str, queue: str, count: int) -> None:
        try:
            self._inner.sent(room, queue, count)
        except Exception:
            self._failed("sent")

    def delivered(self, room: str, queue: str, deliveries: Sequence[Delivery], now: float) -> None:
        try:
            self._inner.delivered(room, queue, deliveries, now)
        except Exception:
            self._failed("delivered")

    def acked(self, room: str, queue: str, held_seconds: Sequence[float]) -> None:
        try:
            self._inner.acked(room, queue, held_seconds)
        except Exception:
            self._failed("acked")

    def nacked(self, room: str, queue: str, count: int) -> None:
        try:
            self._inner.nacked(room, queue, count)
        except Exception:
            self._failed("nacked")

    def lease_expired(self, room: str, queue: str, count: int) -> None:
        try:
            self._inner.lease_expired(room, queue, count)
        except Exception:
            self._failed("lease_expired")

    def dead_lettered(self, room: str, queue: str, count: int) -> None:
        try:
            self._inner.dead_lettered(room, queue, count)
        except Exception:
            self._failed("dead_lettered")

    def stale_settled(self, room: str, queue: str, count: int) -> None:
        try:
            self._inner.stale_settled(room, queue, count)
        except Exception:
            self._failed("stale_settled")

    def stream_opened(self, room: str, queue: str) -> None:
        try:
            self._inner.stream_opened(room, queue)
        except Exception:
            self._failed("stream_opened")

    def stream_closed(self, room: str, queue: str) -> None:
        try:
            self._inner.stream_closed(room, queue)
        except Exception:
            self._failed("stream_closed")

    def rate_limit_waited(self, room: str, queue: str, seconds: float) -> None:
        try:
            self._inner.rate_limit_waited(room, queue, seconds)
        except Exception:
            self._failed("rate_limit_waited")
