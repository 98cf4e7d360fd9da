"""The PostgreSQL queue backend: every queue's state in shared tables, any replica serves any
room.

Send replies after its transaction commits (messages and dedup records together). Delivery
leases rows in SQL (``leases.claim``), so a message leased through one replica is invisible
to consumers on every other, and its token is checked in SQL on whichever replica settles
it. Consumers wait on ``Wakeups`` (LISTEN/NOTIFY plus a one-second re-check). A sweeper
returns expired leases every ``SWEEP_SECONDS`` and prunes dedup records now and then; every
replica runs one, and SKIP LOCKED keeps them from doing the same row twice.

PostgreSQL unreachable: calls raise ``Unavailable`` (UNAVAILABLE) and health turns
NOT_SERVING; once it answers again everything works with no restart (``pool.Database``).
Unlike the embedded engine, nothing is kept in memory that could differ from the database,
so a failed commit breaks nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from meshq.core.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from meshq.core.tasks import cancel_and_wait
from meshq.postgres import leases, messages
from meshq.postgres.group_commit import GroupCommit
from meshq.postgres.pool import Database
from meshq.postgres.queue_admin import PgQueueAdmin
from meshq.postgres.subscription import PgSubscription
from meshq.postgres.wakeups import Wakeups, queue_listener
from meshq.queue import validate as v
from meshq.queue.backend import SettleByParts
from meshq.queue.flow import check_message_flow, message_flow
from meshq.queue.model import (
    Delivery,
    ExtendItem,
    MessageFields,
    MessageState,
    MessageStatus,
    NackItem,
    NewMessage,
    QueueLimits,
    QueueOptions,
    SendResult,
    Sent,
    SettleOutcome,
    new_delivery,
    new_send_result,
)
from meshq.queue.observer import QueueObserver
from meshq.queue.subscription import check_window

logger = logging.getLogger(__name__)

OK, STALE = SettleOutcome.OK, SettleOutcome.STALE
SWEEP_SECONDS = 1.0  # how often each replica returns expired leases
DEDUP_PRUNE_SECONDS = 60.0  # how often each replica deletes expired dedup records
DEPTH_EXACT_FRACTION = 0.9  # below this share of max_depth a recent count is trusted
DEPTH_REFRESH_SECONDS = 5.0  # how old a trusted count may be


class DepthGuard:
    """``max_depth`` without counting a long queue on every send.

    A queue's depth is counted (bounded by the limit) at most every
    ``DEPTH_REFRESH_SECONDS`` while it stays under ``DEPTH_EXACT_FRACTION`` of the limit,
    and on every send above that: the limit itself is exact, only the distance to it is
    estimated (other replicas' sends are seen at the next count).
    """

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self._known: dict[tuple[str, str], tuple[int, float]] = {}

    async def near(self, db: Database, room: str, queue: str, adding: int) -> bool:
        """True when a send of ``adding`` rows needs the exact count of its transaction; a
        count older than ``DEPTH_REFRESH_SECONDS`` is refreshed first."""
        key = (room, queue)
        known = self._known.get(key)
        if known is None or time.monotonic() - known[1] >= DEPTH_REFRESH_SECONDS:
            async with db.conn() as conn:
                depth = await self._count(conn, room, queue)
            known = self._known[key] = (depth, time.monotonic())
        return known[0] + adding >= self.max_depth * DEPTH_EXACT_FRACTION

    async def _count(self, conn: asyncpg.Connection, room: str, queue: str) -> int:
        return int(await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM q_messages WHERE room=$1 AND queue=$2 "
            "LIMIT $3) AS s", room, queue, self.max_depth + 1))

    def added(self, room: str, queue: str, n: int) -> None:
        known = self._known.get((room, queue))
        if known is not None:
            self._known[(room, queue)] = (known[0] + n, known[1])

    async def check(self, conn: asyncpg.Connection, room: str, queue: str, added: int) -> None:
        """Called after ``added`` rows were inserted in the caller's transaction."""
        key = (room, queue)
        known = self._known.get(key)
        now = time.monotonic()
        if known is not None and now - known[1] < DEPTH_REFRESH_SECONDS and \
                known[0] + added < self.max_depth * DEPTH_EXACT_FRACTION:
            self._known[key] = (known[0] + added, known[1])
            return
        depth = await self._count(conn, room, queue)
        if depth > self.max_depth:
            self._known.pop(key, None)
            raise ResourceExhausted(
                f"queue {queue!r} holds {depth - added} messages; {added} more would pass the "
                f"limit of {self.max_depth}")
        self._known[key] = (depth, now)


@dataclass(frozen=True, slots=True)
class PlainSend:
    """One Send on the fast path, waiting for its group's commit."""

    rows: list[messages.Outgoing]
    headers: list[dict[str, str]]
    """Each row's headers (for a hand-off's deliveries)."""
    stamp: float
    """The Send's enqueue time (``_stamp``), every row's."""


class PgQueueBackend(SettleByParts, PgQueueAdmin):
    """Durable at-least-once queues with leases in PostgreSQL, addressed by (room, queue).

    ``settle`` comes from ``SettleByParts``: the whole call checked, then ``extend``, ``ack``
    and ``nack`` below."""

    def __init__(self, db: Database, *, replica: str, limits: QueueLimits = QueueLimits(),
                 observer: QueueObserver | None = None,
                 clock: Callable[[], float] = time.time, listen: bool = True,
                 sweep: bool = True) -> None:
        self._db = db
        self.replica = replica
        """This replica's stable name: the owner of the leases it hands out (a restart under
        the same name hands them back at once; see ``start``)."""
        self.on_broken: Callable[[BaseException], None] | None = None
        """Never called: an unreachable database is reported by the pool's health watcher,
        and nothing here breaks for good."""
        self.limits = limits
        self._observer = observer or QueueObserver()
        self._clock = clock
        self._wakeups = Wakeups()
        self._listener = queue_listener(db.settings.url, self._wakeups) if listen else None
        self._sweep = sweep
        self._depth = DepthGuard(limits.max_depth)
        self._plain: GroupCommit[tuple[str, str], PlainSend, list[str] | None] = \
            GroupCommit(self._commit_plain)
        self._last_stamp = 0.0
        self._subs: set[PgSubscription] = set()
        self._owners: dict[str, PgSubscription] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._running = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Hand back the leases this replica held before it restarted (its streams died with
        the old process; attempt unchanged), then start listening for wakeups and sweeping
        expired leases. The pool is open already."""
        async with self._db.tx() as conn:
            released = await leases.release_replica(conn, self.replica)
            # As embedded, a start begins with full rate-limit buckets (one burst at most)
            await conn.execute("UPDATE q_queues SET tokens_at = 0 WHERE rate_limit > 0")
        if released:
            logger.info("handed back %d leases this replica held before it restarted", released)
        if self._listener is not None:
            self._listener.start()
        if self._sweep:
            self._tasks.append(asyncio.create_task(self._sweeper(), name="meshq-pg-sweeper"))
        self._running = True

    async def close(self) -> None:
        """End every subscription on this replica (their leases stay until they expire or
        are handed back), stop the background tasks. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        for sub in list(self._subs):
            sub.detach()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        await self._plain.close()
        if self._listener is not None:
            await self._listener.stop()

    @property
    def healthy(self) -> bool:
        """False while PostgreSQL does not answer (calls are UNAVAILABLE meanwhile)."""
        return self._db.up

    async def process_due(self) -> None:
        """Return every expired lease now (tests with a fake clock; the sweeper otherwise)."""
        while await self._sweep_once():
            pass

    async def expire_in(self, conn: asyncpg.Connection, room: str, queue: str) -> None:
        """Return the queue's expired leases inside the caller's transaction (before a
        claim, a state read, or after a stale settle: expiry never waits for the sweeper)."""
        done = await leases.expire(conn, self._clock(), room, queue)
        self._report_expired(done)

    def _report_expired(self, done: dict[tuple[str, str], tuple[int, int]]) -> int:
        total = 0
        for (room, queue), (expired, dead) in done.items():
            total += expired
            self._observer.lease_expired(room, queue, expired)
            if dead:
                self._observer.dead_lettered(room, queue, dead)
            self._wakeups.wake(room, queue)
        return total

    async def _sweep_once(self) -> bool:
        """One batch of expired leases; True when the batch was full (more may wait)."""
        async with self._db.tx() as conn:
            done = await leases.expire(conn, self._clock())
        return self._report_expired(done) >= leases.SWEEP_BATCH

    async def _sweeper(self) -> None:
        last_prune = 0.0
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.process_due()
                if time.monotonic() - last_prune > DEDUP_PRUNE_SECONDS:
                    async with self._db.conn() as conn:
                        await conn.execute("DELETE FROM q_dedup WHERE expires_at <= $1",
                                           self._clock())
                    last_prune = time.monotonic()
                self._forget_settled_elsewhere()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # unreachable: health reports it; try again next round
                logger.debug("lease sweep failed: %s", err)

    def _forget_settled_elsewhere(self) -> None:
        for token, sub in list(self._owners.items()):
            if token not in sub.unsettled:
                del self._owners[token]

    # -- sending ----------------------------------------------------------------------------

    async def send(self, room: str, queue: str, batch: Sequence[NewMessage], *,
                   create: bool = False) -> list[SendResult]:
        """Enqueue a batch; returns once it is committed. Duplicates enqueue nothing."""
        v.check_target(room, queue)
        prepared = v.prepare(batch, self.limits)
        return [new_send_result(mid, dup)
                for mid, dup in await self._send(room, queue, prepared, create)]

    async def send_fields(self, room: str, queue: str, batch: Sequence[MessageFields], *,
                          create: bool = False) -> list[Sent]:
        """``send`` over ``MessageFields`` tuples: the servicer's path."""
        v.check_target(room, queue)
        prepared = v.prepare_fields(batch, self.limits)
        return [Sent(mid, dup) for mid, dup in await self._send(room, queue, prepared, create)]

    def check_messages(self, messages: Sequence[MessageFields]) -> list[v.Prepared]:
        """Validate messages for a later ``send_checked``."""
        return v.prepare_fields(messages, self.limits)

    async def send_checked(self, room: str, queue: str, batch: Sequence[v.Prepared], *,
                           create: bool = False) -> list[Sent]:
        """``send_fields`` of messages ``check_messages`` validated."""
        v.check_target(room, queue)
        v.check_batch(len(batch), self.limits)
        return [Sent(mid, dup) for mid, dup in await self._send(room, queue, list(batch), create)]

    async def _send(self, room: str, queue: str, prepared: list[v.Prepared],
                    create: bool) -> list[tuple[str, bool]]:
        flows = [message_flow(p[1]) if check_message_flow(i, p[1]) else (0, "")
                 for i, p in enumerate(prepared)]
        now = self._stamp()
        if not any(p[4] for p in prepared) and not await self._depth.near(
                self._db, room, queue, len(prepared)):
            ids = await self._send_plain(room, queue, prepared, flows, now)
            if ids is not None:
                self._depth.added(room, queue, len(ids))
                self._observer.sent(room, queue, len(ids))
                return [(mid, False) for mid in ids]
        async with self._db.tx() as conn:
            q = await self._usable(conn, room, queue, create)
            window = q["dedup_window"]
            out = [messages.Outgoing(body=body, headers_json=headers_json, delay=delay,
                                     dedup_id=dedup_id,
                                     dedup_window=(own or window) if dedup_id else 0.0,
                                     priority=flow[0], key=flow[1])
                   for (body, _headers, headers_json, delay, dedup_id, own), flow
                   in zip(prepared, flows, strict=True)]
            results = await messages.insert(conn, room, queue, out, now)
            fresh = sum(1 for _, dup in results if not dup)
            if fresh:
                await self._depth.check(conn, room, queue, fresh)
        if fresh:
            self._wakeups.wake(room, queue)
            self._observer.sent(room, queue, fresh)
        return results

    async def _send_plain(self, room: str, queue: str, prepared: list[v.Prepared],
                          flows: list[tuple[int, str]], now: float) -> list[str] | None:
        """The fast path of a send without dedup ids, far from the depth limit: the Sends of
        one queue that arrive together share one statement and commit (``GroupCommit``).
        None when the queue is missing or closed (the full path then creates it or says why).
        """
        send = PlainSend(
            rows=[messages.Outgoing(body=body, headers_json=headers_json, delay=delay,
                                    priority=flow[0], key=flow[1])
                  for (body, _headers, headers_json, delay, _dedup, _own), flow
                  in zip(prepared, flows, strict=True)],
            headers=[p[1] for p in prepared], stamp=now)
        return await self._plain.submit((room, queue), send)

    async def _commit_plain(self, key: tuple[str, str],
                            sends: list[PlainSend]) -> list[list[str] | None]:
        """One statement for a group of plain sends to one queue: their ids, each send's own.

        When a consumer of this queue is parked on this replica, the leading undelayed
        messages (up to its free credit) are inserted already leased to it and handed over
        after the commit: no claim round trip, and no NOTIFY unless rows are left for others.
        """
        room, queue = key
        rows = [m for s in sends for m in s.rows]
        stamps = [s.stamp for s in sends for _ in s.rows]
        flowed = any(m.priority or m.key for m in rows)  # priorities and keys decide in the claim
        sub, k = (None, 0) if flowed else self._handoff_target(room, queue, rows)
        now = self._clock()
        expires = now + sub.lease_seconds if sub is not None else 0.0
        try:
            async with self._db.conn() as conn:
                done = await messages.insert_open(conn, room, queue, rows, stamps, now,
                                                  lease=k, lease_expires=expires,
                                                  replica=self.replica)
        except BaseException:
            if sub is not None:
                sub.release(k)
            raise
        if done is None:
            if sub is not None:
                sub.release(k)
            return [None] * len(sends)
        ids, tokens = done
        if len(ids) > k:
            self._wakeups.wake(room, queue)
        if sub is not None:
            headers = [h for s in sends for h in s.headers]
            self._hand_to(sub, [new_delivery(ids[i], rows[i].body, headers[i], stamps[i], 1,
                                             queue, tokens[i], expires) for i in range(k)])
        out: list[list[str] | None] = []
        at = 0
        for s in sends:
            out.append(ids[at:at + len(s.rows)])
            at += len(s.rows)
        return out

    def _handoff_target(self, room: str, queue: str, rows: list[messages.Outgoing]
                        ) -> tuple[PgSubscription | None, int]:
        """A parked local consumer of the queue and how many leading messages it can take."""
        undelayed = next((i for i, m in enumerate(rows) if m.delay > 0), len(rows))
        if not undelayed:
            return None, 0
        for sub in self._subs:
            if sub.room == room and sub.queue == queue:
                k = min(sub.handoff_room(), undelayed)
                if k > 0:
                    sub.reserve(k)
                    return sub, k
        return None, 0

    def _hand_to(self, sub: PgSubscription, deliveries: list[Delivery]) -> None:
        self._observer.delivered(sub.room, sub.queue, deliveries, self._clock())
        if sub.offer(deliveries):
            for d in deliveries:
                self._owners[d.lease_token] = sub
            return
        self.give_back(sub, [d.lease_token for d in deliveries])  # it closed meanwhile

    def give_back(self, sub: PgSubscription, tokens: list[str]) -> None:
        """Return leases of ``sub`` in the background, attempt unchanged."""
        for token in tokens:
            self._owners.pop(token, None)
        task = asyncio.get_running_loop().create_task(self._give_back(sub, tokens))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _give_back(self, sub: PgSubscription, tokens: list[str]) -> None:
        try:
            async with self._db.tx() as conn:
                await leases.hand_back(conn, sub.room, sub.queue, tokens, self._clock())
        except Exception as err:  # they come back when their lease expires
            logger.warning("could not hand back %d leases of a closed stream: %s",
                           len(tokens), err)

    def _stamp(self) -> float:
        """The enqueue time of a send, taken when it is called: strictly increasing on this
        replica, so that its sends are delivered in the order they were called even when
        their transactions run at once (ready messages go out by enqueue time, then seq)."""
        stamp = max(self._clock(), self._last_stamp + 1e-6)
        self._last_stamp = stamp
        return stamp

    async def _usable(self, conn: asyncpg.Connection, room: str, queue: str,
                      create: bool) -> asyncpg.Record:
        """The queue's row for send / receive / subscribe: created if asked, refused if closed."""
        row = await conn.fetchrow("SELECT closed, max_deliveries, dedup_window FROM q_queues "
                                  "WHERE room=$1 AND name=$2", room, queue)
        if row is None:
            if not create:
                await self.missing(conn, room, queue)
            await self.create_queue_in(conn, room, queue, QueueOptions())
            row = await self.existing(conn, room, queue)
        if row["closed"]:
            raise FailedPrecondition(f"queue {queue!r} in room {room!r} is closed; reopen it "
                                     "with OpenQueue")
        return row

    # -- receiving --------------------------------------------------------------------------

    async def receive(self, room: str, queue: str, *, max_messages: int = 1,
                      wait_seconds: float = 0.0, lease_seconds: float = 30.0,
                      auto_ack: bool = False, create: bool = False) -> list[Delivery]:
        """Lease (or, with auto_ack, remove) up to max_messages; long-poll up to wait_seconds."""
        n, lease = v.check_receive(room, queue, max_messages, wait_seconds, lease_seconds,
                                   self.limits)
        async with self._db.tx() as conn:
            await self._usable(conn, room, queue, create)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            event = asyncio.Event()
            out = await self._take(room, queue, n, lease, auto_ack)
            if out:
                return out
            remaining = deadline - loop.time()
            if out is None or remaining <= 0 or not self._running:
                return []
            await self._wakeups.wait(room, queue, remaining, event)

    async def _take(self, room: str, queue: str, n: int, lease: float,
                    auto_ack: bool, known_open: bool = False) -> list[Delivery] | None:
        """Claim now; [] when nothing is ready or the queue is closed, None when it is gone.

        A claim is one statement; a removal (auto-ack) one durable transaction. Expired leases
        come back through the sweeper (within ``SWEEP_SECONDS``), not on this path. An empty
        claim costs a second statement (is the queue gone?) unless ``known_open``.
        """
        now = self._clock()
        async with self._db.conn() as conn:
            if auto_ack:
                async with conn.transaction():
                    out = await leases.pop(conn, room, queue, n, now)
            else:
                out = await leases.claim(conn, room, queue, n, now, now + lease, self.replica)
            if not out and not known_open:
                closed = await conn.fetchval(
                    "SELECT closed FROM q_queues WHERE room=$1 AND name=$2", room, queue)
                return None if closed is None else []
        self._observer.delivered(room, queue, out, now)
        if auto_ack:
            self._observer.acked(room, queue, [0.0] * len(out))
        return out

    async def subscribe(self, room: str, queue: str, *, max_in_flight: int,
                        lease_seconds: float = 30.0, create: bool = False) -> PgSubscription:
        """Open a streaming consumer with a credit window of max_in_flight deliveries."""
        v.check_target(room, queue)
        window = check_window(max_in_flight, minimum=1)
        lease = v.check_lease("lease_seconds", lease_seconds)
        async with self._db.tx() as conn:
            await self._usable(conn, room, queue, create)
        sub = PgSubscription(self, self._wakeups, room, queue, window, lease, self._closed_sub)
        self._subs.add(sub)
        self._observer.stream_opened(room, queue)
        return sub

    async def claim_for(self, sub: PgSubscription, n: int, *,
                        known_open: bool = False) -> list[Delivery] | None:
        out = await self._take(sub.room, sub.queue, n, sub.lease_seconds, False, known_open)
        for d in out or ():
            self._owners[d.lease_token] = sub
        return out

    async def hand_back(self, sub: PgSubscription) -> None:
        tokens = list(sub.unsettled)
        for token in tokens:
            self._owners.pop(token, None)
        if not tokens:
            return
        async with self._db.tx() as conn:
            count = await leases.hand_back(conn, sub.room, sub.queue, tokens, self._clock())
        if count:
            self._wakeups.wake(sub.room, sub.queue)
            self._observer.nacked(sub.room, sub.queue, count)

    def _closed_sub(self, sub: PgSubscription) -> None:
        self._subs.discard(sub)
        self._observer.stream_closed(sub.room, sub.queue)

    # -- settling ---------------------------------------------------------------------------

    def _check_settle_batch(self, n: int) -> None:
        if n > self.limits.max_batch:
            raise InvalidArgument(f"{n} items in one call; the limit is {self.limits.max_batch}")

    def _settled(self, tokens: Sequence[str]) -> None:
        for token in tokens:
            sub = self._owners.pop(token, None)
            if sub is not None:
                sub.settled(token)

    async def _outcomes(self, conn: asyncpg.Connection, room: str, queue: str,
                        tokens: Sequence[str], done: set[str] | dict[str, float]
                        ) -> list[SettleOutcome]:
        """OK for each settled token (once), STALE otherwise; NotFound for a missing queue."""
        seen: set[str] = set()
        out: list[SettleOutcome] = []
        for token in tokens:
            ok = token in done and token not in seen
            seen.add(token)
            out.append(OK if ok else STALE)
        stale = sum(1 for o in out if o is STALE)
        if stale:
            if len(done) == 0:
                await self.existing(conn, room, queue)
            await self.expire_in(conn, room, queue)
            self._observer.stale_settled(room, queue, stale)
        return out

    async def ack(self, room: str, queue: str, tokens: Sequence[str]) -> list[SettleOutcome]:
        """Settle deliveries as done; stale or unknown tokens change nothing."""
        v.check_target(room, queue)
        self._check_settle_batch(len(tokens))
        now = self._clock()
        async with self._db.conn() as conn:
            done = await leases.ack(conn, room, queue, tokens, now)  # one durable statement
            if len(done) < len(tokens):
                async with conn.transaction():
                    outcomes = await self._outcomes(conn, room, queue, tokens, done)
            else:
                outcomes = await self._outcomes(conn, room, queue, tokens, done)
        if done:
            self._settled(list(done))
            self._observer.acked(room, queue, [now - at for at in done.values()])
        return outcomes

    async def nack(self, room: str, queue: str, items: Sequence[NackItem]) -> list[SettleOutcome]:
        """Hand deliveries back (after an optional delay); each counts as a failed attempt."""
        v.check_target(room, queue)
        self._check_settle_batch(len(items))
        v.check_nacks(items)
        now = self._clock()
        failures = [leases.Failure(token=i.lease_token,
                                   ready_at=now + i.delay_seconds if i.delay_seconds else 0.0,
                                   error=v.check_error_text(i.error) if i.error else "")
                    for i in items]
        async with self._db.tx() as conn:
            q = await self.existing(conn, room, queue)
            options = QueueOptions(max_deliveries=q["max_deliveries"],
                                   dedup_window_seconds=q["dedup_window"])
            failed = await leases.fail(conn, room, queue, options, failures, now)
            outcomes = await self._outcomes(conn, room, queue,
                                            [i.lease_token for i in items], failed.tokens)
        if failed.tokens:
            self._settled(list(failed.tokens))
            self._wakeups.wake(room, queue)
            self._observer.nacked(room, queue, len(failed.tokens))
            if failed.dead:
                self._observer.dead_lettered(room, queue, failed.dead)
        return outcomes

    async def extend(self, room: str, queue: str,
                     items: Sequence[ExtendItem]) -> list[SettleOutcome]:
        """Set each lease to expire ``seconds`` from now."""
        v.check_target(room, queue)
        self._check_settle_batch(len(items))
        v.check_extends(items)
        async with self._db.tx() as conn:
            done = await leases.extend(conn, room, queue,
                                       [(i.lease_token, i.seconds) for i in items],
                                       self._clock())
            outcomes = await self._outcomes(conn, room, queue,
                                            [i.lease_token for i in items], done)
        for item in items:
            sub = self._owners.get(item.lease_token)
            if sub is not None and item.lease_token in done:
                sub.extended(item.lease_token, item.seconds)
        return outcomes

    async def message_state(self, room: str, queue: str,
                            message_id: str) -> MessageStatus:
        """Where a message is, and its delivery attempts so far."""
        v.check_target(room, queue)
        async with self._db.tx() as conn:
            await self.existing(conn, room, queue)
            await self.expire_in(conn, room, queue)
            row = await conn.fetchrow(
                "SELECT attempts, ready_at, lease_token FROM q_messages WHERE id=$1 AND "
                "room=$2 AND queue=$3", message_id if isinstance(message_id, str) else "",
                room, queue)
        if row is None:
            return MessageStatus(MessageState.GONE, 0)
        if row["lease_token"] is not None:
            return MessageStatus(MessageState.IN_FLIGHT, row["attempts"] + 1)
        if row["ready_at"] > self._clock():
            return MessageStatus(MessageState.DELAYED, row["attempts"])
        return MessageStatus(MessageState.READY, row["attempts"])
