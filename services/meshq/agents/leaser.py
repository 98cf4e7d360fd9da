"""Keeps the leases of held jobs alive: Pub/Sub's leaser, for one worker.

Every job the worker holds (waiting for a slot or running) is in the table; every
``lease_seconds / 3`` each one's lease is extended to ``lease_seconds`` from now, so a job may
run far longer than its lease while a dead worker's jobs still come back within one lease.
Each tick extends everything held with one call per subscription (``extend_all``: one
Subscribe frame carrying every token), not one settle per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from meshq.api.messages import extend_all

logger = logging.getLogger(__name__)

EXTEND_FRACTION = 1 / 3  # extend when a third of the lease has passed: two chances before expiry


class Leaser:
    """A table of held messages and the task that extends their leases."""

    def __init__(self, *, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self.interval = max(lease_seconds * EXTEND_FRACTION, 0.05)
        self._held: dict[int, Any] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, message: Any) -> None:
        self._held[id(message)] = message

    def remove(self, message: Any) -> None:
        self._held.pop(id(message), None)

    def __len__(self) -> int:
        return len(self._held)

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="meshq-worker-leaser")

    async def stop(self) -> None:
        """Stop extending (returns at once: the loop sleeps on the stop event)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
            if self._stop.is_set():
                return
            held = list(self._held.values())
            if held:
                await self._extend(held)

    async def _extend(self, held: list[Any]) -> None:
        try:
            applied = await extend_all(held, self.lease_seconds)
        except Exception as err:  # the stream broke: nothing to save, the consumer reconnects
            logger.debug("extending %d leases failed: %s", len(held), err)
            return
        for message, ok in zip(held, applied, strict=True):
            if not ok:  # lost already (expired, or settled meanwhile): its settle says so
                logger.debug("lease of %s is stale", getattr(message, "message_id", "?"))
