"""Leases: handing ready messages out, settling them, expiring them, dead-lettering.

Delivery writes nothing to the store. A failed delivery (nack or lease expiry) increments the
message's stored attempt count; when that count reaches the queue's ``max_deliveries`` the
message moves to ``<queue>.dlq``. A hand-back (a stream closing) and a server crash do not
count as attempts.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from meshq.queue import store as st
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
from meshq.queue.state import DELAYED, GONE, LEASED, Msg, QueueState
from meshq.queue.timers import Timers

if TYPE_CHECKING:
    from meshq.queue.subscription import Subscription

OK = SettleOutcome.OK
STALE = SettleOutcome.STALE
EXPIRED_ERROR = "lease expired"


class Leaser:
    """The lease table's operations; the engine validates input and looks queues up first."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        observer: QueueObserver,
        commit: Callable[[list[st.Op]], Awaitable[None]],
        spawn_commit: Callable[[list[st.Op]], None],
        dlq_for: Callable[[QueueState, list[st.Op]], QueueState],
    ) -> None:
        self.clock = clock
        self.observer = observer
        self._commit = commit
        self._spawn_commit = spawn_commit
        self._dlq_for = dlq_for
        self.timers = Timers(clock, self._on_timer)
        self._prefix = "L" + os.urandom(5).hex()
        self._counter = itertools.count(1)

    # -- delivery ---------------------------------------------------------------------------

    def take(self, q: QueueState, n: int, lease: float, owner: Subscription | None) -> list[Delivery]:
        """Lease up to ``n`` ready messages of ``q``, oldest first."""
        now = self.clock()
        expires = now + lease
        ready, leases, add_lease = q.ready, q.leases, self.timers.add_lease
        prefix, counter, name = self._prefix, self._counter, q.name
        out: list[Delivery] = []
        while len(out) < n:
            msg = ready.pop()
            if msg is None:
                break
            token = f"{prefix}{next(counter):x}"
            msg.state = LEASED
            msg.ver += 1
            msg.token = token
            msg.lease_expires = expires
            msg.delivered_at = now
            msg.owner = owner
            leases[token] = msg
            add_lease(msg)
            out.append(new_delivery(msg.id, msg.body, msg.headers, msg.enqueued_at,
                                    msg.attempts + 1, name, token, expires))
        if out:
            q.n_ready -= len(out)
            if owner is not None:
                owner.unsettled.update(d.lease_token for d in out)
            self.observer.delivered(q.room, name, out, now)
        return out

    def pop(self, q: QueueState, n: int) -> tuple[list[Delivery], list[st.Op]]:
        """Remove up to ``n`` ready messages (auto-ack); returns them and their deletions."""
        out: list[Delivery] = []
        ops: list[st.Op] = []
        while len(out) < n:
            msg = q.ready.pop()
            if msg is None:
                break
            msg.state = GONE
            msg.ver += 1
            del q.msgs[msg.id]
            ops.append((st.MSG_DEL, (msg.seq,)))
            out.append(new_delivery(msg.id, msg.body, msg.headers, msg.enqueued_at,
                                    msg.attempts + 1, q.name))
        q.n_ready -= len(out)
        if out:
            self.observer.delivered(q.room, q.name, out, self.clock())
        return out, ops

    # -- settling ---------------------------------------------------------------------------

    def _end_lease(self, msg: Msg) -> None:
        self.timers.remove_lease(msg)
        owner, token = msg.owner, msg.token
        msg.owner = None
        msg.token = ""
        if owner is not None:
            owner.settled(token)

    async def ack(self, q: QueueState, tokens: Sequence[str]) -> list[SettleOutcome]:
        self.process_due()
        now = self.clock()
        outcomes: list[SettleOutcome] = []
        ops: list[st.Op] = []
        held: list[float] = []
        leases, msgs = q.leases, q.msgs
        for token in tokens:
            msg = leases.pop(token, None)
            if msg is None:
                outcomes.append(STALE)
                continue
            self._end_lease(msg)
            msg.state = GONE
            msg.ver += 1
            del msgs[msg.id]
            ops.append((st.MSG_DEL, (msg.seq,)))
            held.append(now - msg.delivered_at)
            outcomes.append(OK)
        self._report_stale(q, len(outcomes) - len(ops))
        if ops:
            await self._commit(ops)
            self.observer.acked(q.room, q.name, held)
        return outcomes

    async def nack(self, q: QueueState, items: Sequence[NackItem]) -> list[SettleOutcome]:
        self.process_due()
        now = self.clock()
        outcomes: list[SettleOutcome] = []
        ops: list[st.Op] = []
        for item in items:
            msg = q.leases.pop(item.lease_token, None)
            if msg is None:
                outcomes.append(STALE)
                continue
            self._end_lease(msg)
            if item.error:
                _set_header(msg, LAST_ERROR_HEADER, item.error)
            self._failed(q, msg, now + item.delay_seconds if item.delay_seconds else 0.0,
                         item.error or "nacked", ops)
            outcomes.append(OK)
        nacked = sum(1 for o in outcomes if o is OK)
        self._report_stale(q, len(outcomes) - nacked)
        if ops:
            q.wake()
            await self._commit(ops)
            self.observer.nacked(q.room, q.name, nacked)
        return outcomes

    def extend(self, q: QueueState, items: Sequence[ExtendItem]) -> list[SettleOutcome]:
        """Extend leases; nothing is stored (leases live in memory only)."""
        self.process_due()
        now = self.clock()
        outcomes: list[SettleOutcome] = []
        for item in items:
            msg = q.leases.get(item.lease_token)
            if msg is None:
                outcomes.append(STALE)
                continue
            self.timers.remove_lease(msg)
            msg.lease_expires = now + item.seconds
            self.timers.add_lease(msg)
            outcomes.append(OK)
        self._report_stale(q, sum(1 for o in outcomes if o is STALE))
        return outcomes

    def hand_back(self, q: QueueState, sub: Subscription) -> None:
        """Return a closed stream's unsettled deliveries to ready, attempt unchanged."""
        q.subs.discard(sub)
        count = 0
        for token in sub.unsettled:
            msg = q.leases.pop(token, None)
            if msg is None:
                continue
            self.timers.remove_lease(msg)
            msg.owner = None
            msg.token = ""
            q.make_ready(msg)
            count += 1
        sub.unsettled.clear()
        if count:
            q.wake()
            self.observer.nacked(q.room, q.name, count)
        self.observer.stream_closed(q.room, q.name)

    def _report_stale(self, q: QueueState, count: int) -> None:
        if count:
            self.observer.stale_settled(q.room, q.name, count)

    # -- failures, expiry and dead letters --------------------------------------------------

    def _failed(self, q: QueueState, msg: Msg, ready_at: float, reason: str,
                ops: list[st.Op]) -> None:
        """Count a failed delivery: back to the queue (maybe delayed) or to the dead letters."""
        msg.attempts += 1
        if msg.attempts >= q.options.max_deliveries and not is_dlq(q.name):
            self._dead_letter(q, msg, reason, ops)
            return
        msg.ready_at = ready_at
        if ready_at:
            msg.state = DELAYED
            msg.ver += 1
            q.n_delayed += 1
            self.timers.add_delayed(msg)
        else:
            q.make_ready(msg)
        ops.append((st.MSG_UPDATE, (msg.attempts, ready_at, msg.headers_json, msg.seq)))

    def _dead_letter(self, q: QueueState, msg: Msg, reason: str, ops: list[st.Op]) -> None:
        dq = self._dlq_for(q, ops)
        del q.msgs[msg.id]
        if msg.headers.get(LAST_ERROR_HEADER) != reason:
            _set_header(msg, LAST_ERROR_HEADER, reason)
        msg.q = dq
        msg.ready_at = 0.0
        dq.msgs[msg.id] = msg
        dq.make_ready(msg)
        dq.wake()
        ops.append((st.MSG_MOVE, (dq.room, dq.name, msg.attempts, 0.0, msg.headers_json, msg.seq)))
        self.observer.dead_lettered(q.room, q.name, 1)

    def process_due(self) -> None:
        """Apply every deadline that has passed: expired leases, delays that ended."""
        timers = self.timers
        if timers.next_deadline() > self.clock():
            return
        expired, ready = timers.due(self.clock())
        touched: set[QueueState] = set()
        for msg in ready:
            q = msg.q
            q.n_delayed -= 1
            q.make_ready(msg)
            touched.add(q)
        ops: list[st.Op] = []
        for msg in expired:
            q = msg.q
            del q.leases[msg.token]
            self._end_lease(msg)
            self._failed(q, msg, 0.0, EXPIRED_ERROR, ops)
            touched.add(q)
            self.observer.lease_expired(q.room, q.name, 1)
        for q in touched:
            q.wake()
        if ops:
            self._spawn_commit(ops)

    def _on_timer(self) -> None:
        self.process_due()
        self.timers.arm()


def _set_header(msg: Msg, key: str, value: str) -> None:
    msg.headers = {**msg.headers, key: value}
    msg.headers_json = json.dumps(msg.headers, separators=(",", ":"))
