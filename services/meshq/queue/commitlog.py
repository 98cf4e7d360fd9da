"""The commit log: every write of the embedded engine goes through here, in order.

It owns the store's write side and the engine's *broken* state: once a commit fails, memory
may differ from disk, so every call is refused (``Unavailable``) until a restart reloads disk.
It also knows whether the engine is running. Callers submit typed batches (``store.Op``) in
the order memory applied them; nothing else talks to ``QueueStore.submit``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from meshq.core.errors import Unavailable
from meshq.queue import store as st

logger = logging.getLogger(__name__)

BROKEN = "queue store failed; restart the server"


class CommitLog:
    """Ordered durable writes and the broken state a failed one leaves."""

    def __init__(self, store: st.QueueStore, *,
                 on_broken: Callable[[BaseException], None]) -> None:
        self._store = store
        self._on_broken = on_broken
        self._broken = False
        self.running = False

    @property
    def healthy(self) -> bool:
        return not self._broken

    def check_healthy(self) -> None:
        if self._broken:
            raise Unavailable(BROKEN)

    def check_running(self) -> None:
        if self._broken:
            raise Unavailable(BROKEN)
        if not self.running:
            raise Unavailable("the queue engine is not running")

    def submit(self, ops: list[st.Op]) -> asyncio.Future[None]:
        """Hand ``ops`` to the store now; the caller must ``watch`` or await the future."""
        self.check_running()
        try:
            return self._store.submit(ops)
        except Exception as err:
            self.mark_broken(err)
            raise Unavailable(f"the queue store failed to commit: {err}") from err

    async def commit(self, ops: list[st.Op]) -> None:
        """Submit and wait; a cancelled caller does not cancel the commit."""
        future = self.submit(ops)
        future.add_done_callback(self.watch)
        try:
            await asyncio.shield(future)
        except Exception as err:
            self.mark_broken(err)
            raise Unavailable(f"the queue store failed to commit: {err}") from err

    def spawn(self, ops: list[st.Op]) -> None:
        """Commit in the background (timer-driven changes: nobody waits for them).

        Submitted at once, not from a new task, so the store sees every write in the order
        memory applied it (a later drain or delete cannot overtake an expiry's write).
        """
        try:
            future = self.submit(ops)
        except Unavailable:
            logger.error("background queue commit refused: the store failed")
            return
        future.add_done_callback(self.watch)

    def watch(self, future: asyncio.Future[None]) -> None:
        """Done-callback of every commit: a failed one breaks the engine for good."""
        if future.cancelled():
            self.mark_broken(asyncio.CancelledError())
        elif (err := future.exception()) is not None:
            self.mark_broken(err)

    def mark_broken(self, err: BaseException) -> None:
        if self._broken:
            return
        logger.error("queue store commit failed (%s); the queue engine refuses every call "
                     "until the server restarts", err)
        self._broken = True
        self._on_broken(err)
