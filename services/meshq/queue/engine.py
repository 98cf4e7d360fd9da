"""The embedded queue engine: the ``QueueBackend`` over memory and a ``QueueStore``.

A call that changes what is stored returns only once its mutations are committed. Sends are
applied to memory after their commit, so a consumer never sees a message that is not yet on
disk; settlements (ack, nack, expiry) change memory at once, so a token can never be settled
twice, and then wait for their commit. Consumers wait on asyncio events; delays and lease
expiries share one loop timer (see ``timers.py``).

The engine itself validates input and wires its parts, each given what it needs:

- ``CommitLog``: ordered writes to the store, the broken state, running or not;
- ``Registry``: rooms and queues, lookups, counts, dead-letter queues;
- ``Sender``: message ids and sequence numbers, dedup, placing committed sends;
- ``Leaser``: taking, settling, expiring, dead-lettering;
- ``BodyReader``: reading cold bodies back at delivery;
- ``Timers``: the one loop timer (monotonic clock);
- ``Admin``: rooms and queues created, changed and removed; peek, message state.

See docs/architecture.md for who calls whom.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence

from meshq.core.errors import FailedPrecondition
from meshq.queue import store as st
from meshq.queue import validate as v
from meshq.queue.admin import Admin
from meshq.queue.bodies import BodyReader
from meshq.queue.commitlog import CommitLog
from meshq.queue.flow import FlowGate, index_queue, is_indexed, needs_index, parse_flow_record
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
    Settled,
    SettleOutcome,
    new_send_result,
)
from meshq.queue.observer import GuardedObserver, QueueObserver
from meshq.queue.registry import Registry, queue_record
from meshq.queue.sending import Sender
from meshq.queue.state import BodyBudget, DedupEntry, Msg, QueueState, RoomState
from meshq.queue.subscription import Subscription, check_window
from meshq.queue.timers import Timers

logger = logging.getLogger(__name__)

DEFAULT_BODY_BUDGET = 32 * 1024 * 1024  # bytes of not-yet-delivered messages kept in memory


class QueueEngine:
    """Durable at-least-once queues with leases, addressed by (room, queue)."""

    def __init__(
        self,
        store: st.QueueStore,
        *,
        limits: QueueLimits = QueueLimits(),
        observer: QueueObserver | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        body_budget: int = DEFAULT_BODY_BUDGET,
    ) -> None:
        """``clock`` gives wall-clock instants (stored: enqueue times, delays, dedup expiry);
        ``monotonic`` measures lease and delay durations (default ``time.monotonic``, or
        ``clock`` itself when only a fake ``clock`` is given, so tests move both at once)."""
        self._store = store
        self.limits = limits
        self._clock = clock
        mono = monotonic or (time.monotonic if clock is time.time else clock)
        self.on_broken: Callable[[BaseException], None] | None = None
        """Called once when a failed commit breaks the engine (health turns NOT_SERVING)."""
        self._log = CommitLog(store, on_broken=self._broke)
        self.registry = Registry(clock=clock, limits=limits,
                                 check_healthy=self._log.check_healthy,
                                 check_running=self._log.check_running)
        """Rooms and queues in memory; its reads are synchronous (for in-process callers that
        cannot await, e.g. a metrics collector at scrape time)."""
        observer = GuardedObserver(observer or QueueObserver())
        self._observer = observer
        budget = BodyBudget(body_budget)
        self._timers: Timers[Msg] = Timers(mono, self._on_timer)
        self._flow = FlowGate(monotonic=mono, on_wait=lambda q, secs: observer.rate_limit_waited(
            q.room, q.name, secs))
        bodies = BodyReader(read=store.read, log=self._log)
        self._leaser = Leaser(clock=clock, monotonic=mono, observer=observer, log=self._log,
                              timers=self._timers, dlq_for=self.registry.dlq_for,
                              bodies=bodies, budget=budget, flow=self._flow)
        self._sender = Sender(clock=clock, log=self._log, limits=limits, observer=observer,
                              budget=budget, place_delayed=self._leaser.place_delayed)
        self._admin = Admin(registry=self.registry, log=self._log, leaser=self._leaser,
                            limits=limits, bodies=bodies, find=store.find)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the store's index and rebuild memory from it; leases start empty."""
        now = self._clock()
        snapshot = await self._store.load(now)
        repairs = self._restore(snapshot, now)
        await self._restore_flow(snapshot)
        self._log.running = True
        if repairs:
            await self._log.commit(repairs)
        self._timers.start(asyncio.get_running_loop())
        self._timers.arm()
        logger.info("queue engine started: %d rooms, %d messages",
                    len(self.registry.rooms), snapshot.count)

    async def close(self) -> None:
        """End every subscription, drop in-flight leases, close the store. Idempotent."""
        if not self._log.running:
            return
        self._log.running = False
        self._end_streams()
        self._timers.stop()
        self._flow.close()
        await self._store.close()

    @property
    def healthy(self) -> bool:
        """False once a commit failed: the engine refuses every call until restarted."""
        return self._log.healthy

    def _broke(self, err: BaseException) -> None:
        if self.on_broken is not None:
            self.on_broken(err)
        self._end_streams()

    def _end_streams(self) -> None:
        """End every stream of every queue (stopping, or broken)."""
        for q in self.registry.all_queues():
            q.end_streams()

    def _on_timer(self) -> None:
        self._leaser.on_timer()

    def process_due(self) -> None:
        """Apply deadlines that have passed by the clock now (tests with a fake clock)."""
        self._leaser.process_due()
        self._timers.arm()

    def _restore(self, snap: st.Snapshot, now: float) -> list[st.Op]:
        """Rebuild memory from the index; returns repair rows for orphans (``_orphan``)."""
        repairs: list[st.Op] = []
        for name, created_at in snap.rooms:
            self.registry.add_room(name, created_at)
        for sq in snap.queues:
            room = self.registry.rooms.get(sq.room) or self._orphan_room(sq.room, repairs)
            flow, _ = parse_flow_record(sq.flow)
            opts = QueueOptions(max_deliveries=sq.max_deliveries,
                                dedup_window_seconds=sq.dedup_window, **flow)
            q = room.queues[sq.name] = QueueState(sq.room, sq.name, opts, sq.created_at)
            q.closed = sq.closed
        for run in snap.ready:
            q = self._find_or_orphan(run.room, run.queue, repairs)
            q.ready.cold.extend(run.pairs)
            q.n_ready += len(run)
        for sm in snap.delayed:
            q = self._find_or_orphan(sm.room, sm.queue, repairs)
            headers = json.loads(sm.headers_json) if sm.headers_json != "{}" else {}
            msg = Msg(sm.id, None, headers, sm.headers_json, sm.enqueued_at, sm.attempts,
                      sm.seq, sm.ready_at, q)
            q.msgs[msg.id] = msg
            self._leaser.place_delayed(q, msg, sm.ready_at - now)
        self._sender.next_seq = snap.max_seq + 1
        for rec in sorted(snap.dedup, key=lambda r: r.expires_at):
            if rec.expires_at > now and (q_ := self.registry.find(rec.room, rec.queue)):
                q_.dedup[rec.dedup_id] = DedupEntry(rec.message_id, rec.expires_at, None)
                q_.dedup_order.append((rec.expires_at, rec.dedup_id))  # sorted: a heap
        return repairs

    async def _restore_flow(self, snap: st.Snapshot) -> None:
        """Rate limits back on, and the flow index of queues that had one rebuilt (reading
        their ready messages' headers)."""
        for sq in snap.queues:
            q = self.registry.find(sq.room, sq.name)
            if q is None:
                continue
            if parse_flow_record(sq.flow)[1]:
                await index_queue(q, self._store.read)
            self._flow.configure(q)

    async def _flow_send(self, q: QueueState) -> None:
        """The first priority or key a queue is sent gives it a flow index (stored in its row,
        so a restart rebuilds it)."""
        if not is_indexed(q):
            await index_queue(q, self._store.read)
            await self._log.commit([queue_record(q)])

    def _orphan_room(self, room: str, repairs: list[st.Op]) -> RoomState:
        """Stored rows name a room with no row of its own (a store written by an older meshq
        that kept a queue whose creation failed): recreate it."""
        logger.warning("queue store: rows of room %r without its room row; recreating it",
                       room)
        r, op = self.registry.add_room(room)
        repairs.append(op)
        return r

    def _find_or_orphan(self, room: str, queue: str, repairs: list[st.Op]) -> QueueState:
        q = self.registry.find(room, queue)
        if q is not None:
            return q
        r = self.registry.rooms.get(room) or self._orphan_room(room, repairs)
        logger.warning("queue store: messages of queue %r in room %r without its queue row; "
                       "recreating it with default options", queue, room)
        q = r.queues[queue] = QueueState(room, queue, QueueOptions(), self._clock())
        repairs.append(queue_record(q))
        return q

    # -- lookups ----------------------------------------------------------------------------

    async def _usable(self, room: str, queue: str, create: bool) -> QueueState:
        """The queue for send / receive / subscribe: created if asked, refused if closed."""
        self._log.check_running()
        q = self.registry.find(room, queue)
        if q is None:
            if not create:
                self.registry.existing(room, queue)
            q = await self._admin.create_queue(room, queue, QueueOptions())
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
        flow = needs_index([p[1] for p in prepared])  # (validates priorities and keys)
        q = await self._usable(room, queue, create)
        if flow:
            await self._flow_send(q)
        return [new_send_result(mid, dup) for mid, dup in await self._sender.send(q, prepared)]

    async def send_fields(self, room: str, queue: str, messages: Sequence[MessageFields], *,
                          create: bool = False) -> list[Sent]:
        """``send`` over ``MessageFields`` tuples: the servicer's path."""
        v.check_target(room, queue)
        return await self._send_prepared(room, queue, v.prepare_fields(messages, self.limits),
                                         create)

    def check_messages(self, messages: Sequence[MessageFields]) -> list[v.Prepared]:
        """Validate messages for a later ``send_checked``."""
        return v.prepare_fields(messages, self.limits)

    async def send_checked(self, room: str, queue: str, messages: Sequence[v.Prepared], *,
                           create: bool = False) -> list[Sent]:
        """``send_fields`` of messages ``check_messages`` validated."""
        v.check_target(room, queue)
        v.check_batch(len(messages), self.limits)
        return await self._send_prepared(room, queue, list(messages), create)

    async def _send_prepared(self, room: str, queue: str, prepared: list[v.Prepared],
                             create: bool) -> list[Sent]:
        flow = needs_index([p[1] for p in prepared])  # (validates priorities and keys)
        q = await self._usable(room, queue, create)
        if flow:
            await self._flow_send(q)
        return await self._sender.send(q, prepared)

    async def receive(self, room: str, queue: str, *, max_messages: int = 1,
                      wait_seconds: float = 0.0, lease_seconds: float = 30.0,
                      auto_ack: bool = False, create: bool = False) -> list[Delivery]:
        """Lease (or, with auto_ack, remove) up to max_messages; long-poll up to wait_seconds."""
        n, lease = v.check_receive(room, queue, max_messages, wait_seconds, lease_seconds,
                                   self.limits)
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
            if q.deleted or q.closed or not self._log.running:
                return []
            out = await self._receive_now(q, n, lease, auto_ack)
        return out

    async def _receive_now(self, q: QueueState, n: int, lease: float,
                           auto_ack: bool) -> list[Delivery]:
        if not q.n_ready:
            return []
        if not auto_ack:
            return await self._leaser.take(q, n, lease, None)
        out, ops = await self._leaser.pop(q, n)
        if ops:
            await self._log.commit(ops)
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

    async def settle(self, room: str, queue: str, *, acks: Sequence[str] = (),
                     nacks: Sequence[NackItem] = (), extends: Sequence[ExtendItem] = ()
                     ) -> Settled:
        """Checked whole once, then extensions, acks (one delete commit), nacks (one move
        commit); stale or unknown tokens change nothing (``QueueBackend.settle``)."""
        return await self._settle(room, queue, acks, nacks, extends)

    async def _settle(self, room: str, queue: str, acks: Sequence[str],
                      nacks: Sequence[NackItem], extends: Sequence[ExtendItem]) -> Settled:
        q = self.registry.existing(room, queue)
        nacks = v.check_settle(acks, nacks, extends, max_batch=self.limits.max_batch)
        extended = self._leaser.extend(q, extends) if extends else []
        acked = await self._leaser.ack(q, acks) if acks else []
        nacked = await self._leaser.nack(q, nacks) if nacks else []
        return Settled(acks=acked, nacks=nacked, extends=extended)

    async def ack(self, room: str, queue: str, tokens: Sequence[str]) -> list[SettleOutcome]:
        """Settle deliveries as done; stale or unknown tokens change nothing."""
        return (await self._settle(room, queue, tokens, (), ())).acks

    async def nack(self, room: str, queue: str, items: Sequence[NackItem]) -> list[SettleOutcome]:
        """Hand deliveries back (after an optional delay); each counts as a failed attempt."""
        return (await self._settle(room, queue, (), items, ())).nacks

    async def extend(self, room: str, queue: str,
                     items: Sequence[ExtendItem]) -> list[SettleOutcome]:
        """Set each lease to expire ``seconds`` from now."""
        return (await self._settle(room, queue, (), (), items)).extends

    # -- administration ---------------------------------------------------------------------

    async def create_room(self, name: str, *, if_not_exists: bool = False
                          ) -> tuple[RoomInfo, bool]:
        return await self._admin.create_room(name, if_not_exists=if_not_exists)

    async def delete_room(self, name: str, *, force: bool = False) -> None:
        await self._admin.delete_room(name, force=force)

    async def open_queue(self, room: str, queue: str, options: QueueOptions | None = None
                         ) -> QueueInfo:
        info = await self._admin.open_queue(room, queue, options)
        q = self.registry.existing(room, queue)
        if q.options.key_concurrency and not is_indexed(q):
            await index_queue(q, self._store.read)
            await self._log.commit([queue_record(q)])
        self._flow.configure(q)
        return info

    async def close_queue(self, room: str, queue: str) -> None:
        await self._admin.close_queue(room, queue)

    async def drain_queue(self, room: str, queue: str) -> int:
        return await self._admin.drain_queue(room, queue)

    async def delete_queue(self, room: str, queue: str) -> None:
        q = self.registry.find(room, queue)
        await self._admin.delete_queue(room, queue)
        if q is not None:
            self._flow.forget(q)

    async def redrive(self, room: str, queue: str, max_messages: int = 0) -> int:
        return await self._admin.redrive(room, queue, max_messages)

    # -- reads ------------------------------------------------------------------------------

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
        return await self._admin.peek(room, queue, max_messages)

    async def message_state(self, room: str, queue: str, message_id: str) -> MessageStatus:
        """Where a message is, and its delivery attempts so far."""
        return await self._admin.message_state(room, queue, message_id)


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


__all__ = ["QueueEngine", "Subscription"]
