"""Leases: handing ready messages out, settling them, expiring them, dead-lettering.

Delivery writes nothing to the store. A failed delivery (nack or lease expiry) increments the
message's stored attempt count; when that count reaches the queue's ``max_deliveries`` the
message moves to ``<queue>.dlq``. A hand-back (a stream closing) and a server crash do not
count as attempts.

A lease token is 96 random bits per delivery (16 URL-safe characters), so no token can be
guessed from another. Lease lengths run on the monotonic clock; ``lease_expires_at`` in a
delivery is the wall-clock instant it corresponds to, for the consumer's information.

Cold messages (and message objects without their body) are read from the store when they are
taken, in one read per take (``BodyReader``); see ``state``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence

from meshq.queue import store as st
from meshq.queue.bodies import BodyReader
from meshq.queue.commitlog import CommitLog
from meshq.queue.flow import FlowGate, delivery_order
from meshq.queue.model import (
    LAST_ERROR_HEADER,
    Delivery,
    ExtendItem,
    NackItem,
    SettleOutcome,
    is_dlq,
    new_delivery,
)
from meshq.queue.observer import QueueObserver
from meshq.queue.state import (
    DELAYED,
    GONE,
    LEASED,
    BodyBudget,
    Entry,
    LeaseOwner,
    Msg,
    QueueState,
)
from meshq.queue.timers import Timers

OK = SettleOutcome.OK
STALE = SettleOutcome.STALE
EXPIRED_ERROR = "lease expired"
TOKEN_BYTES = 12  # 96 bits per lease token
TOKEN_CHARS = TOKEN_BYTES * 4 // 3


def new_tokens(n: int) -> list[str]:
    """``n`` random lease tokens (one urandom call for all of them)."""
    raw = base64.urlsafe_b64encode(os.urandom(TOKEN_BYTES * n)).decode("ascii")
    return [raw[i:i + TOKEN_CHARS] for i in range(0, n * TOKEN_CHARS, TOKEN_CHARS)]


class Leaser:
    """The lease table's operations; the engine validates input and looks queues up first."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        observer: QueueObserver,
        log: CommitLog,
        timers: Timers[Msg],
        dlq_for: Callable[[QueueState, list[st.Op]], QueueState],
        bodies: BodyReader,
        budget: BodyBudget,
        flow: FlowGate | None = None,
    ) -> None:
        self._clock = clock
        self._mono = monotonic
        self._observer = observer
        self._log = log
        self._timers = timers
        self._dlq_for = dlq_for
        self._bodies = bodies
        self._budget = budget
        self._flow = flow

    # -- delivery ---------------------------------------------------------------------------

    async def take(self, q: QueueState, n: int, lease: float,
                   owner: LeaseOwner | None) -> list[Delivery]:
        """Lease up to ``n`` ready messages of ``q``, oldest first (within the rate limit)."""
        hot, cold = self._pop(q, n)
        if cold:
            hot.extend(await self._bodies.fetch(q, cold))
            hot.sort(key=delivery_order(q))
        return self._lease(q, hot, lease, owner)

    def _pop(self, q: QueueState, n: int) -> tuple[list[Msg], list[Entry]]:
        """Up to ``n`` ready entries: message objects with their body, and the rest."""
        hot: list[Msg] = []
        cold: list[Entry] = []
        ready = q.ready
        flow = self._flow
        admitted = n = flow.admit(q, n) if flow is not None else n
        for entry in ready.pop_many(n):
            if isinstance(entry, int) or entry.body is None:
                cold.append(entry)
            else:
                hot.append(entry)
        q.n_ready -= len(hot) + len(cold)
        if flow is not None and len(hot) + len(cold) < admitted:
            flow.unused(q, admitted - len(hot) - len(cold))
        return hot, cold

    def _lease(self, q: QueueState, msgs: list[Msg], lease: float,
               owner: LeaseOwner | None) -> list[Delivery]:
        if not msgs:
            return []
        now, mono = self._clock(), self._mono()
        expires, expires_at = mono + lease, now + lease
        leases, add_lease, name = q.leases, self._timers.add_lease, q.name
        tokens = new_tokens(len(msgs))
        out: list[Delivery] = []
        for msg, token in zip(msgs, tokens, strict=True):
            msg.state = LEASED
            msg.ver += 1
            msg.token = token
            msg.lease_expires = expires
            msg.delivered_at = mono
            msg.owner = owner
            leases[token] = msg
            add_lease(msg)
            out.append(new_delivery(msg.id, msg.body or "", msg.headers, msg.enqueued_at,
                                    msg.attempts + 1, name, token, expires_at))
        if owner is not None:
            owner.leased(tokens)
        self._observer.delivered(q.room, name, out, now)
        return out

    async def pop(self, q: QueueState, n: int) -> tuple[list[Delivery], list[st.Op]]:
        """Remove up to ``n`` ready messages (auto-ack); returns them and their deletion."""
        hot, cold = self._pop(q, n)
        if cold:
            hot.extend(await self._bodies.fetch(q, cold))
            hot.sort(key=delivery_order(q))
        out: list[Delivery] = []
        for msg in hot:
            if self._flow is not None:
                self._flow.released(msg)
            self._forget(q, msg)
            out.append(new_delivery(msg.id, msg.body or "", msg.headers, msg.enqueued_at,
                                    msg.attempts + 1, q.name))
        if out:
            self._observer.delivered(q.room, q.name, out, self._clock())
        ops: list[st.Op] = [st.DeleteMessages([m.seq for m in hot])] if hot else []
        return out, ops

    def _forget(self, q: QueueState, msg: Msg) -> None:
        msg.state = GONE
        msg.ver += 1
        if msg.cached:
            self._budget.free(msg.cached)
            msg.cached = 0
        del q.msgs[msg.id]

    # -- settling ---------------------------------------------------------------------------

    def _end_lease(self, msg: Msg) -> str:
        """Take the lease off ``msg`` (its token is then unknown); returns the token."""
        self._timers.remove_lease(msg)
        if self._flow is not None:
            self._flow.released(msg)
        token = msg.token
        msg.owner = None
        msg.token = ""
        return token

    async def ack(self, q: QueueState, tokens: Sequence[str]) -> list[SettleOutcome]:
        self.process_due()
        mono = self._mono()
        outcomes: list[SettleOutcome] = []
        seqs: list[int] = []
        held: list[float] = []
        owners: dict[LeaseOwner, list[str]] = {}
        leases = q.leases
        for token in tokens:
            msg = leases.pop(token, None)
            if msg is None:
                outcomes.append(STALE)
                continue
            owner = msg.owner
            if owner is not None:
                owners.setdefault(owner, []).append(token)
            self._end_lease(msg)
            self._forget(q, msg)
            seqs.append(msg.seq)
            held.append(mono - msg.delivered_at)
            outcomes.append(OK)
        _tell_settled(owners)
        self._report_stale(q, len(outcomes) - len(seqs))
        if seqs:
            await self._log.commit([st.DeleteMessages(seqs)])
            self._observer.acked(q.room, q.name, held)
        return outcomes

    async def nack(self, q: QueueState, items: Sequence[NackItem]) -> list[SettleOutcome]:
        self.process_due()
        outcomes: list[SettleOutcome] = []
        ops = _Ops()
        owners: dict[LeaseOwner, list[str]] = {}
        for item in items:
            msg = q.leases.pop(item.lease_token, None)
            if msg is None:
                outcomes.append(STALE)
                continue
            if msg.owner is not None:
                owners.setdefault(msg.owner, []).append(item.lease_token)
            self._end_lease(msg)
            if item.error:
                _set_header(msg, LAST_ERROR_HEADER, item.error)
            self._failed(q, msg, item.delay_seconds, item.error or "nacked", ops)
            outcomes.append(OK)
        _tell_settled(owners)
        nacked = sum(1 for o in outcomes if o is OK)
        self._report_stale(q, len(outcomes) - nacked)
        if nacked:
            q.wake()
            await self._log.commit(ops.records())
            self._observer.nacked(q.room, q.name, nacked)
            self._report_dead(ops)
        return outcomes

    def extend(self, q: QueueState, items: Sequence[ExtendItem]) -> list[SettleOutcome]:
        """Extend leases; nothing is stored (leases live in memory only)."""
        self.process_due()
        mono = self._mono()
        outcomes: list[SettleOutcome] = []
        timers = self._timers
        for item in items:
            msg = q.leases.get(item.lease_token)
            if msg is None:
                outcomes.append(STALE)
                continue
            timers.remove_lease(msg)
            msg.lease_expires = mono + item.seconds
            timers.add_lease(msg)
            outcomes.append(OK)
        self._report_stale(q, sum(1 for o in outcomes if o is STALE))
        return outcomes

    def hand_back(self, q: QueueState, tokens: Sequence[str]) -> None:
        """Return a closed stream's unsettled deliveries to ready, attempt unchanged."""
        count = 0
        for token in tokens:
            msg = q.leases.pop(token, None)
            if msg is None:
                continue
            self._end_lease(msg)
            self._return(q, msg)
            count += 1
        if count:
            q.wake()
            self._observer.nacked(q.room, q.name, count)

    def detached(self, q: QueueState, owner: LeaseOwner) -> None:
        """A stream ended without a hand-back (queue gone, engine stopping)."""
        q.subs.discard(owner)
        self._observer.stream_closed(q.room, q.name)

    def release_all(self, q: QueueState) -> None:
        """Forget every message of ``q`` in memory (drain, delete); leased tokens go stale."""
        owners: dict[LeaseOwner, list[str]] = {}
        for msg in q.msgs.values():
            if msg.state == LEASED:
                if msg.owner is not None:
                    owners.setdefault(msg.owner, []).append(msg.token)
                self._end_lease(msg)
            if msg.cached:
                self._budget.free(msg.cached)
                msg.cached = 0
            msg.state = GONE
            msg.ver += 1
        _tell_settled(owners)
        q.msgs.clear()
        q.leases.clear()
        q.ready.clear()
        q.n_ready = q.n_delayed = 0
        q.epoch += 1

    def _report_stale(self, q: QueueState, count: int) -> None:
        if count:
            self._observer.stale_settled(q.room, q.name, count)

    # -- failures, expiry and dead letters --------------------------------------------------

    def _return(self, q: QueueState, msg: Msg) -> None:
        """Back to ready; a body read for the delivery (not budgeted) is dropped again."""
        if not msg.cached:
            msg.body = None
        q.make_ready(msg)

    def place_delayed(self, q: QueueState, msg: Msg, delay: float) -> None:
        """Hold ``msg`` back for ``delay`` seconds (its stored ``ready_at`` is set already)."""
        msg.state = DELAYED
        msg.ver += 1
        msg.due = self._mono() + delay
        q.n_delayed += 1
        self._timers.add_delayed(msg)

    def _failed(self, q: QueueState, msg: Msg, delay: float, reason: str, ops: _Ops) -> None:
        """Count a failed delivery: back to the queue (maybe delayed) or to the dead letters."""
        msg.attempts += 1
        if msg.attempts >= q.options.max_deliveries and not is_dlq(q.name):
            self._dead_letter(q, msg, reason, ops)
            return
        if delay:
            msg.ready_at = self._clock() + delay
            if not msg.cached:
                msg.body = None
            self.place_delayed(q, msg, delay)
        else:
            msg.ready_at = 0.0
            self._return(q, msg)
        ops.changes.append(st.Change(msg.attempts, msg.ready_at, msg.headers_json, msg.seq))

    def _dead_letter(self, q: QueueState, msg: Msg, reason: str, ops: _Ops) -> None:
        dq = self._dlq_for(q, ops.first)
        del q.msgs[msg.id]
        if msg.headers.get(LAST_ERROR_HEADER) != reason:
            _set_header(msg, LAST_ERROR_HEADER, reason)
        msg.q = dq
        msg.ready_at = 0.0
        dq.msgs[msg.id] = msg
        self._return(dq, msg)
        dq.wake()
        ops.moves.setdefault((dq.room, dq.name), []).append(
            st.Change(msg.attempts, 0.0, msg.headers_json, msg.seq))
        ops.dead[q] = ops.dead.get(q, 0) + 1

    def _report_dead(self, ops: _Ops) -> None:
        for q, count in ops.dead.items():
            self._observer.dead_lettered(q.room, q.name, count)

    def process_due(self) -> None:
        """Apply every deadline that has passed: expired leases, delays that ended."""
        timers = self._timers
        mono = self._mono()
        if timers.next_deadline() > mono:
            return
        expired, ready = timers.due(mono)
        touched: set[QueueState] = set()
        for msg in ready:
            q = msg.q
            q.n_delayed -= 1
            q.make_ready(msg)
            touched.add(q)
        ops = _Ops()
        owners: dict[LeaseOwner, list[str]] = {}
        counts: dict[QueueState, int] = {}
        for msg in expired:
            q = msg.q
            del q.leases[msg.token]
            if msg.owner is not None:
                owners.setdefault(msg.owner, []).append(msg.token)
            self._end_lease(msg)
            self._failed(q, msg, 0.0, EXPIRED_ERROR, ops)
            touched.add(q)
            counts[q] = counts.get(q, 0) + 1
        _tell_settled(owners)
        for q in touched:
            q.wake()
        if expired:
            self._log.spawn(ops.records())
            for q, count in counts.items():
                self._observer.lease_expired(q.room, q.name, count)
            self._report_dead(ops)

    def on_timer(self) -> None:
        self.process_due()
        self._timers.arm()


class _Ops:
    """Store records of one settle call, grouped: queue creations, changes, moves; and how
    many messages each queue dead-lettered (told to the observer once per call)."""

    __slots__ = ("first", "changes", "moves", "dead")

    def __init__(self) -> None:
        self.first: list[st.Op] = []  # dead-letter queues created on the way
        self.changes: list[st.Change] = []
        self.moves: dict[tuple[str, str], list[st.Change]] = {}
        self.dead: dict[QueueState, int] = {}

    def records(self) -> list[st.Op]:
        out = list(self.first)
        if self.changes:
            out.append(st.UpdateMessages(self.changes))
        out.extend(st.MoveMessages(room, queue, changes)
                   for (room, queue), changes in self.moves.items())
        return out


def _tell_settled(owners: dict[LeaseOwner, list[str]]) -> None:
    for owner, tokens in owners.items():
        owner.settled(tokens)


def _set_header(msg: Msg, key: str, value: str) -> None:
    msg.headers = {**msg.headers, key: value}
    msg.headers_json = json.dumps(msg.headers, separators=(",", ":"))
