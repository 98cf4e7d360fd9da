"""The queue engine: every queue's state in memory, written through to a ``QueueStore``.

A call that changes what is stored returns only once its mutations are committed. Sends are
applied to memory after their commit, so a consumer never sees a message that is not yet on
disk; settlements (ack, nack, expiry) change memory at once, so a token can never be settled
twice, and then wait for their commit. Consumers wait on asyncio events; delays and lease
expiries share one loop timer (see ``timers.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import overload

from meshq.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from meshq.core.validation import check_name, check_seconds
from meshq.queue import store as st
from meshq.queue import validate as v
from meshq.queue.admin import AdminMixin, _queue_put
from meshq.queue.leaser import Leaser
from meshq.queue.model import (
    Delivery,
    ExtendItem,
    MessageFields,
    MessageStatus,
    NackItem,
    NewMessage,
    QueueInfo,
    QueueLimits,
    QueueOptions,
    RoomInfo,
    SendResult,
    Sent,
    SettleOutcome,
    new_send_result,
)
from meshq.queue.observer import QueueObserver
from meshq.queue.registry import Registry
from meshq.queue.sending import Sender
from meshq.queue.state import DedupEntry, Msg, QueueState, RoomState
from meshq.queue.subscription import Subscription, check_window

logger = logging.getLogger(__name__)

BROKEN = "queue store failed; restart the server"


class QueueEngine(AdminMixin):
    """Durable at-least-once queues with leases, addressed by (room, queue)."""

    def __init__(
        self,
        store: st.QueueStore,
        *,
        limits: QueueLimits = QueueLimits(),
        observer: QueueObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.limits = limits
        self._observer = observer or QueueObserver()
        self._clock = clock
        self.registry = Registry(clock=clock, limits=limits, check_healthy=self._check_healthy,
                                 check_running=self._check_running)
        """Rooms and queues in memory; its reads are synchronous (for in-process callers that
        cannot await, e.g. a metrics collector at scrape time)."""
        self._rooms = self.registry.rooms
        self._running = False
        self._broken = False
        self.on_broken: Callable[[BaseException], None] | None = None
        """Called once when a failed commit breaks the engine (health turns NOT_SERVING)."""
        self._leaser = Leaser(
            clock=clock, observer=self._observer, commit=self._commit,
            spawn_commit=self._spawn_commit, dlq_for=self._dlq_for,
        )
        self._sender = Sender(self)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the store and rebuild the in-memory state; leases start empty."""
        snapshot = await self._store.load()
        repairs = self._restore(snapshot)
        if repairs:
            await self._store.submit(repairs)
        self._leaser.timers.start(asyncio.get_running_loop())
        self._leaser.timers.arm()
        self._running = True
        logger.info("queue engine started: %d rooms, %d messages",
                    len(self._rooms), len(snapshot.messages))

    async def close(self) -> None:
        """End every subscription and wait, drop in-flight leases, close the store."""
        if not self._running:
            return
        self._running = False
        self._end_streams()
        self._leaser.timers.stop()
        await self._store.close()

    def _restore(self, snap: st.Snapshot) -> list[st.Op]:
        """Rebuild memory from ``snap``; returns repair rows for orphans (see ``_orphan``)."""
        now = self._clock()
        repairs: list[st.Op] = []
        for name, created_at in snap.rooms:
            self._rooms[name] = RoomState(name, created_at)
        for sq in snap.queues:
            room = self._rooms.get(sq.room) or self._orphan(sq.room, None, repairs)
            opts = QueueOptions(max_deliveries=sq.max_deliveries,
                                dedup_window_seconds=sq.dedup_window)
            q = room.queues[sq.name] = QueueState(sq.room, sq.name, opts, sq.created_at)
            q.closed = sq.closed
        seq = 0
        for sm in snap.messages:
            q = self._find(sm.room, sm.queue) or self._orphan(sm.room, sm.queue, repairs)
            headers = json.loads(sm.headers_json) if sm.headers_json != "{}" else {}
            msg = Msg(sm.id, sm.body, headers, sm.headers_json, sm.enqueued_at, sm.attempts,
                      sm.seq, sm.ready_at, q)
            q.msgs[msg.id] = msg
            self._sender.place(q, msg, now)
            seq = max(seq, sm.seq)
        self._sender.next_seq = seq + 1
        for rec in sorted(snap.dedup, key=lambda r: r.expires_at):
            if rec.expires_at > now and (q_ := self._find(rec.room, rec.queue)) is not None:
                q_.dedup[rec.dedup_id] = DedupEntry(rec.message_id, rec.expires_at, None)
                q_.dedup_order.append((rec.expires_at, rec.dedup_id))  # sorted: a heap
        return repairs

    @overload
    def _orphan(self, room: str, queue: None, repairs: list[st.Op]) -> RoomState: ...
    @overload
    def _orphan(self, room: str, queue: str, repairs: list[st.Op]) -> QueueState: ...

    def _orphan(self, room: str, queue: str | None, repairs: list[st.Op]
                ) -> RoomState | QueueState:
        """A stored row names a room or queue with no row of its own (a store written by an
        older meshq that kept a queue whose creation failed): recreate it with defaults."""
        r = self._rooms.get(room)
        if r is None:
            logger.warning("queue store: rows of room %r without its room row; recreating it",
                           room)
            r = self._rooms[room] = RoomState(room, self._clock())
            repairs.append((st.ROOM_PUT, (room, r.created_at)))
        if queue is None:
            return r
        logger.warning("queue store: messages of queue %r in room %r without its queue row; "
                       "recreating it with default options", queue, room)
        q = r.queues[queue] = QueueState(room, queue, QueueOptions(), self._clock())
        repairs.append(_queue_put(q))
        return q

    def process_due(self) -> None:
        """Apply deadlines that have passed by ``clock()`` now (tests with a fake clock)."""
        self._leaser.process_due()
        self._leaser.timers.arm()

    # -- commits ----------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False once a commit failed: the engine refuses every call until restarted."""
        return not self._broken

    def _submit(self, ops: list[st.Op]) -> asyncio.Future[None]:
        """Hand ``ops`` to the store now, in the order memory applied them."""
        self._check_running()
        try:
            return self._store.submit(ops)
        except Exception as err:
            self._mark_broken(err)
            raise Unavailable(f"the queue store failed to commit: {err}") from err

    async def _commit(self, ops: list[st.Op]) -> None:
        """Submit and wait; a cancelled caller does not cancel the commit."""
        future = self._submit(ops)
        future.add_done_callback(self._commit_failed)
        try:
            await asyncio.shield(future)
        except Exception as err:
            self._mark_broken(err)
            raise Unavailable(f"the queue store failed to commit: {err}") from err

    def _spawn_commit(self, ops: list[st.Op]) -> None:
        """Commit in the background (timer-driven changes: nobody waits for them).

        Submitted at once, not from a new task, so the store sees every write in the order
        memory applied it (a later drain or delete cannot overtake an expiry's write).
        """
        try:
            future = self._submit(ops)
        except Unavailable:
            logger.error("background queue commit refused: the store failed")
            return
        future.add_done_callback(self._commit_failed)

    def _commit_failed(self, future: asyncio.Future[None]) -> None:
        """Done-callback of every commit: a failed one breaks the engine for good."""
        if future.cancelled():
            self._mark_broken(asyncio.CancelledError())
        elif (err := future.exception()) is not None:
            self._mark_broken(err)

    def _mark_broken(self, err: BaseException) -> None:
        """Memory may now differ from disk: refuse everything until a restart reloads disk."""
        if self._broken:
            return
        logger.error("queue store commit failed (%s); the queue engine refuses every call "
                     "until the server restarts", err)
        self._broken = True
        if self.on_broken is not None:
            self.on_broken(err)
        self._end_streams()

    def _end_streams(self) -> None:
        """End every stream of every queue (stopping, or broken)."""
        for room in self._rooms.values():
            for q in room.queues.values():
                q.end_streams()

    def _check_healthy(self) -> None:
        if self._broken:
            raise Unavailable(BROKEN)

    def _check_running(self) -> None:
        if self._broken:
            raise Unavailable(BROKEN)
        if not self._running:
            raise Unavailable("the queue engine is not running")

    # -- lookups ----------------------------------------------------------------------------

    def _find(self, room: str, queue: str) -> QueueState | None:
        return self.registry.find(room, queue)

    def _existing(self, room: str, queue: str) -> QueueState:
        return self.registry.existing(room, queue)

    async def _usable(self, room: str, queue: str, create: bool) -> QueueState:
        """The queue for send / receive / subscribe: created if asked, refused if closed."""
        self._check_running()
        q = self._find(room, queue)
        if q is None:
            if not create:
                self._existing(room, queue)
            q = await self._create_queue(room, queue, QueueOptions())
        if q.closed:
            raise FailedPrecondition(f"queue {queue!r} in room {room!r} is closed; reopen it "
                                     "with OpenQueue")
        return q

    # -- messages ---------------------------------------------------------------------------

    async def send(self, room: str, queue: str, messages: Sequence[NewMessage], *,
                   create: bool = False) -> list[SendResult]:
        """Enqueue a batch; returns once it is durable. Duplicates enqueue nothing."""
        v.check_target(room, queue)
        prepared = v.prepare(messages, self.limits)
        q = await self._usable(room, queue, create)
        return [new_send_result(mid, dup) for mid, dup in await self._sender.send(q, prepared)]

    async def send_fields(self, room: str, queue: str, messages: Sequence[MessageFields], *,
                          create: bool = False) -> list[Sent]:
        """``send`` over ``MessageFields`` tuples: the servicer's path."""
        v.check_target(room, queue)
        prepared = v.prepare_fields(messages, self.limits)
        q = await self._usable(room, queue, create)
        return await self._sender.send(q, prepared)

    async def receive(self, room: str, queue: str, *, max_messages: int = 1,
                      wait_seconds: float = 0.0, lease_seconds: float = 30.0,
                      auto_ack: bool = False, create: bool = False) -> list[Delivery]:
        """Lease (or, with auto_ack, remove) up to max_messages; long-poll up to wait_seconds."""
        v.check_target(room, queue)
        n = v.check_count("max_messages", max_messages, self.limits)
        check_seconds("wait_seconds", wait_seconds, maximum=v.MAX_WAIT_SECONDS)
        lease = v.check_lease("lease_seconds", lease_seconds)
        q = await self._usable(room, queue, create)
        self._leaser.process_due()
        out = await self._receive_now(q, n, lease, auto_ack)
        if out or wait_seconds <= 0:
            return out
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while not out:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await _wait(q, remaining):
                return []
            if q.deleted or q.closed or not self._running:
                return []
            out = await self._receive_now(q, n, lease, auto_ack)
        return out

    async def _receive_now(self, q: QueueState, n: int, lease: float,
                           auto_ack: bool) -> list[Delivery]:
        if not q.n_ready:
            return []
        if not auto_ack:
            return self._leaser.take(q, n, lease, None)
        out, ops = self._leaser.pop(q, n)
        if ops:
            await self._commit(ops)
            self._observer.acked(q.room, q.name, [0.0] * len(out))
        return out

    async def subscribe(self, room: str, queue: str, *, max_in_flight: int,
                        lease_seconds: float = 30.0, create: bool = False) -> Subscription:
        """Open a streaming consumer with a credit window of max_in_flight deliveries."""
        v.check_target(room, queue)
        window = check_window(max_in_flight, minimum=1)
        lease = v.check_lease("lease_seconds", lease_seconds)
        q = await self._usable(room, queue, create)
        sub = Subscription(self._leaser, q, window, lease)
        q.subs.add(sub)
        self._observer.stream_opened(room, queue)
        return sub

    async def ack(self, room: str, queue: str, tokens: Sequence[str]) -> list[SettleOutcome]:
        """Settle deliveries as done; stale or unknown tokens change nothing."""
        q = self._existing(room, queue)
        self._check_settle_batch(len(tokens))
        return await self._leaser.ack(q, tokens)

    async def nack(self, room: str, queue: str, items: Sequence[NackItem]) -> list[SettleOutcome]:
        """Hand deliveries back (after an optional delay); each counts as a failed attempt."""
        q = self._existing(room, queue)
        self._check_settle_batch(len(items))
        v.check_nacks(items)
        items = [NackItem(lease_token=i.lease_token, delay_seconds=i.delay_seconds,
                          error=v.check_error_text(i.error)) if i.error else i for i in items]
        return await self._leaser.nack(q, items)

    async def extend(self, room: str, queue: str,
                     items: Sequence[ExtendItem]) -> list[SettleOutcome]:
        """Set each lease to expire ``seconds`` from now."""
        q = self._existing(room, queue)
        self._check_settle_batch(len(items))
        v.check_extends(items)
        return self._leaser.extend(q, items)

    def _check_settle_batch(self, n: int) -> None:
        if n > self.limits.max_batch:
            raise InvalidArgument(f"{n} items in one call; the limit is {self.limits.max_batch}")

    # -- reads (the registry answers; async for the QueueBackend seam) ---------------------

    async def get_room(self, name: str) -> RoomInfo:
        return self.registry.get_room(name)

    async def list_rooms(self) -> list[RoomInfo]:
        return self.registry.list_rooms()

    async def list_queues(self, room: str) -> list[QueueInfo]:
        return self.registry.list_queues(room)

    async def queue_info(self, room: str, queue: str) -> QueueInfo:
        return self.registry.queue_info(room, queue)

    async def peek(self, room: str, queue: str, max_messages: int) -> list[Delivery]:
        """The next ready messages, oldest first, without leasing them."""
        return self.registry.peek(room, queue, max_messages)

    async def message_state(self, room: str, queue: str, message_id: str) -> MessageStatus:
        """Where a message is, and its delivery attempts so far."""
        return self.registry.message_state(room, queue, message_id)


async def _wait(q: QueueState, seconds: float) -> bool:
    """Wait until ``q`` is woken; False on timeout."""
    event = asyncio.Event()
    q.waiters.add(event)
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
        return True
    except TimeoutError:
        return False
    finally:
        q.waiters.discard(event)


__all__ = ["QueueEngine", "Subscription", "check_name"]
