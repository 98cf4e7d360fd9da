"""Waking waiting consumers: LISTEN/NOTIFY from every replica, as a hint.

Every insert or hand-back of messages NOTIFYs ``messages.CHANNEL`` with "<room>/<queue>"
inside its transaction, so the notification goes out at commit, to every replica. A
``Listener`` holds one dedicated connection (outside the pool) that LISTENs and sets the
local waiters of that queue. A notification can be lost (the connection dropped, PostgreSQL
restarted); waiters therefore re-check at least every ``RECHECK_SECONDS`` on their own, so a
lost one delays a delivery by about a second, never more. No tight polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from meshq.core.tasks import cancel_and_wait
from meshq.postgres.messages import CHANNEL
from meshq.postgres.pool import CONNECT_TIMEOUT, unreachable

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0  # the longest a waiter sleeps without looking at the table
RECONNECT_SECONDS = 1.0  # pause between attempts to re-open the listening connection


class Wakeups:
    """Local waiters by (room, queue)."""

    def __init__(self) -> None:
        self._waiters: dict[tuple[str, str], set[asyncio.Event]] = {}

    def add(self, room: str, queue: str, event: asyncio.Event) -> None:
        """Set ``event`` on every wakeup of the queue until ``discard`` (a subscription)."""
        self._waiters.setdefault((room, queue), set()).add(event)

    def discard(self, room: str, queue: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get((room, queue))
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[(room, queue)]

    def wake(self, room: str, queue: str) -> None:
        for event in self._waiters.get((room, queue), ()):
            event.set()

    def wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def wait(self, room: str, queue: str, timeout: float,
                   event: asyncio.Event | None = None) -> bool:
        """Wait until woken or ``timeout`` (at most ``RECHECK_SECONDS``); True if woken."""
        event = event or asyncio.Event()
        key = (room, queue)
        self._waiters.setdefault(key, set()).add(event)
        try:
            async with asyncio.timeout(min(timeout, RECHECK_SECONDS)):
                await event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[key]


def queue_listener(url: str, wakeups: Wakeups) -> Listener:
    """The listener that wakes local consumers on the queue channel ("<room>/<queue>")."""

    def notified(payload: str) -> None:
        room, _, queue = payload.partition("/")
        wakeups.wake(room, queue)

    return Listener(url, CHANNEL, notified, wakeups.wake_all)


class Listener:
    """LISTENs to one channel on a connection of its own; reconnects by itself.

    ``on_notify(payload)`` runs for each notification, ``on_connect()`` each time the
    connection (re)opens: what was notified while it was closed is lost, so the caller then
    re-checks everything.
    """

    def __init__(self, url: str, channel: str, on_notify: Callable[[str], None],
                 on_connect: Callable[[], None]) -> None:
        self._url = url
        self._channel = channel
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"meshq-listen-{self._channel}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._close()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def _run(self) -> None:
        while True:
            try:
                self._conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
                await self._conn.add_listener(self._channel, self._notified)
                self._on_connect()
                closed = asyncio.Event()
                self._conn.add_termination_listener(_setter(closed))
                await closed.wait()
                logger.warning("the LISTEN connection closed; re-opening it")
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if not unreachable(err):
                    logger.exception("the LISTEN connection failed")
            await self._close()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2.0)


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _conn: event.set()
