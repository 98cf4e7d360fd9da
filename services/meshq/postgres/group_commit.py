"""Group commit: callers that want the same kind of commit at about the same time share one.

A Send of one message costs a statement, a commit and a WAL flush, and PostgreSQL's CPU per
statement is what limits unbatched Sends, not the rows. ``GroupCommit.submit(key, item)``
queues the item under its key (for Send: the queue) and waits; a flusher takes everything
queued under that key — what arrived in the same event-loop iteration, or while its last
commit was in flight — and commits it in one call of ``commit(key, items)``. Each caller gets
its own result only after that commit, so a reply still means durable; if the commit fails,
every caller of that group gets the error (nothing of the group was committed, or, on a
failure at COMMIT, the outcome is unknown, as for a single statement).

At most ``concurrency`` commits of one key are in flight: the next group gathers meanwhile.
A caller that gives up (cancelled) does not stop the commit its item is in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from meshq.core.errors import Unavailable

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

CONCURRENCY = 2  # commits of one key in flight at once
MAX_ITEMS = 256  # most callers one commit carries (one statement's arrays)


@dataclass
class _Group(Generic[T, R]):
    pending: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    running: int = 0
    """Flushers of this key (started or committing)."""
    starting: bool = False
    """A flusher was started and has not taken its items yet: new callers join its group."""


class GroupCommit(Generic[K, T, R]):
    """Shares ``commit(key, items) -> one result per item`` among concurrent callers."""

    def __init__(self, commit: Callable[[K, list[T]], Awaitable[list[R]]], *,
                 concurrency: int = CONCURRENCY, max_items: int = MAX_ITEMS) -> None:
        self._commit = commit
        self._concurrency = concurrency
        self._max_items = max_items
        self._groups: dict[K, _Group[T, R]] = {}
        self._flushers: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        """Commit ``item`` with whatever else is queued under ``key``; its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        group.pending.append((item, future))
        if not group.starting and group.running < self._concurrency:
            group.starting = True
            group.running += 1
            task = loop.create_task(self._flush(key, group), name="meshq-pg-group-commit")
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await future

    async def close(self) -> None:
        """Stop the flushers; their callers get ``Unavailable``."""
        for task in list(self._flushers):
            task.cancel()
        for task in list(self._flushers):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for group in self._groups.values():
            _fail(group.pending, Unavailable("this replica is stopping"))
        self._groups.clear()

    async def _flush(self, key: K, group: _Group[T, R]) -> None:
        try:
            while group.pending:
                taken = group.pending[:self._max_items]
                del group.pending[:self._max_items]
                group.starting = False
                await self._commit_group(key, taken)
                if group.starting:  # a newer flusher takes what is left
                    return
        finally:
            group.running -= 1
            if not group.running and not group.pending and self._groups.get(key) is group:
                del self._groups[key]

    async def _commit_group(self, key: K, taken: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._commit(key, [item for item, _ in taken])
        except asyncio.CancelledError:
            _fail(taken, Unavailable("this replica is stopping"))
            raise
        except Exception as err:
            _fail(taken, err)
            return
        for (_, future), result in zip(taken, results, strict=True):
            if not future.done():
                future.set_result(result)


def _fail(taken: list[tuple[T, asyncio.Future[R]]], err: BaseException) -> None:
    for _, future in taken:
        if not future.done():
            future.set_exception(err)
