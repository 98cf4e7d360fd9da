"""Send: dedup, depth limit, one store batch per call, applied to memory after the commit.

A committed message is placed as an object with its body while the body budget allows, cold
(seq and enqueue time only) once it does not; see ``state``.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import os
from collections.abc import Callable

from meshq.core.errors import ResourceExhausted, Unavailable
from meshq.queue import store as st
from meshq.queue.commitlog import CommitLog
from meshq.queue.model import QueueLimits, Sent
from meshq.queue.observer import QueueObserver
from meshq.queue.state import BodyBudget, DedupEntry, Msg, QueueState
from meshq.queue.validate import Prepared

MSG_OVERHEAD = 400  # bytes an in-memory message costs beyond its body (object, index, id)

_Fresh = tuple[str, int, str, dict[str, str], str, float]
"""(message_id, seq, body, headers, headers_json, delay) of one new message of a send."""


class Sender:
    """Owns message ids and enqueue sequence numbers; places committed sends."""

    def __init__(self, *, clock: Callable[[], float], log: CommitLog, limits: QueueLimits,
                 observer: QueueObserver, budget: BodyBudget,
                 place_delayed: Callable[[QueueState, Msg, float], None]) -> None:
        self._clock = clock
        self._log = log
        self._limits = limits
        self._observer = observer
        self._budget = budget
        self._place_delayed = place_delayed
        self.next_seq = 1
        self._prefix = os.urandom(st.ID_PREFIX_CHARS // 2).hex()  # unique across restarts

    def _prune_dedup(self, q: QueueState, now: float, ops: list[st.Op]) -> None:
        order, dedup = q.dedup_order, q.dedup
        pruned = False
        while order and order[0][0] <= now:
            expires, key = heapq.heappop(order)
            entry = dedup.get(key)
            if entry is not None and entry.expires_at <= now and entry.commit is None:
                del dedup[key]
                pruned = True
        if pruned:
            ops.append(st.PruneDedup(q.room, q.name, now))

    def _split(self, q: QueueState, batch: list[Prepared], now: float
               ) -> tuple[list[Sent], list[tuple[str, Prepared]], list[asyncio.Future[None]]]:
        """Decide which messages are new and which repeat a remembered dedup_id.

        ``Sent`` records are built with ``tuple.__new__`` (a NamedTuple's own ``__new__`` is
        Python code, costlier than the rest of the loop)."""
        results: list[Sent] = []
        new = tuple.__new__
        fresh: list[tuple[str, Prepared]] = []
        waits: list[asyncio.Future[None]] = []
        in_batch: dict[str, str] = {}
        prefix, seq = self._prefix, self.next_seq
        for p in batch:
            dedup_id = p[4]
            if dedup_id:
                entry = q.dedup.get(dedup_id)
                if entry is not None and entry.expires_at > now:
                    results.append(new(Sent, (entry.message_id, True)))
                    if entry.commit is not None:
                        waits.append(entry.commit)
                    continue
                first = in_batch.get(dedup_id)
                if first is not None:
                    results.append(new(Sent, (first, True)))
                    continue
            mid = f"{prefix}{seq + len(fresh):012x}"  # store.message_id, inlined
            if dedup_id:
                in_batch[dedup_id] = mid
            fresh.append((mid, p))
            results.append(new(Sent, (mid, False)))
        return results, fresh, waits

    async def send(self, q: QueueState, batch: list[Prepared]) -> list[Sent]:
        """Enqueue ``batch`` durably; (message_id, duplicate) per message, in order."""
        now = self._clock()
        ops: list[st.Op] = []
        self._prune_dedup(q, now, ops)
        results, fresh, waits = self._split(q, batch, now)
        n = len(fresh)
        limit = self._limits.max_depth
        if n and q.depth() + n > limit:
            raise ResourceExhausted(
                f"queue {q.name!r} holds {q.depth()} messages; {n} more would pass the limit "
                f"of {limit}"
            )
        room, name, seq = q.room, q.name, self.next_seq
        self.next_seq += n
        window = q.options.dedup_window_seconds
        rows: list[st.NewRow] = []
        placed: list[_Fresh] = []
        dedup_ops: list[st.PutDedup] = []
        for i, (mid, (body, headers, headers_json, delay, dedup_id, own)) in enumerate(fresh):
            rows.append((mid, seq + i, body, headers_json, now + delay if delay else 0.0))
            placed.append((mid, seq + i, body, headers, headers_json, delay))
            if dedup_id and (own or window) > 0:
                dedup_ops.append(st.PutDedup(room, name, dedup_id, mid, now + (own or window)))
        if rows:
            ops.append(st.PutMessages(room, name, now, rows))
        ops.extend(dedup_ops)
        if not ops:
            await _wait_all(waits)
            return results
        future = self._log.submit(ops)
        entries = self._remember(q, dedup_ops, future)
        q.pending += n
        done = functools.partial(self._committed, q, placed, entries, now, q.epoch)
        if future.done():
            done(future)
        else:
            # Placement happens in this callback, not after the await: a Send cancelled while
            # its commit is in flight (a client deadline) is still placed once committed.
            future.add_done_callback(done)
            try:
                await asyncio.shield(future)
            except Exception as err:
                raise Unavailable(f"the queue store failed to commit the send: {err}") from err
        if future.exception() is not None:
            raise Unavailable(f"the queue store failed to commit the send: {future.exception()}")
        await _wait_all(waits)
        return results

    def _committed(self, q: QueueState, placed: list[_Fresh], entries: list[str], now: float,
                   epoch: int, future: asyncio.Future[None]) -> None:
        """The commit of one send ended: place its messages, or forget its dedup records."""
        n = len(placed)
        q.pending -= n
        failed = future.cancelled() or future.exception() is not None
        for key in entries:
            entry = q.dedup.get(key)
            if entry is not None and entry.commit is future:
                if failed:
                    del q.dedup[key]
                else:
                    entry.commit = None
        if failed:
            self._log.watch(future)
            return
        if n and q.epoch == epoch and not q.deleted:
            self._place(q, placed, now)
            q.wake()
        if n:
            self._observer.sent(q.room, q.name, n)

    def _place(self, q: QueueState, placed: list[_Fresh], now: float) -> None:
        take, cold = self._budget.take, q.ready.cold
        for mid, seq, body, headers, headers_json, delay in placed:
            cost = len(body) + MSG_OVERHEAD
            kept = take(cost)
            if not kept and not delay and seq > cold.last_seq():
                q.add_cold(seq, now)
                continue
            msg = Msg(mid, body if kept else None, headers, headers_json, now, 0, seq,
                      now + delay if delay else 0.0, q)
            msg.cached = cost if kept else 0
            q.msgs[mid] = msg
            if delay:
                self._place_delayed(q, msg, delay)
            else:
                q.make_ready(msg)

    def _remember(self, q: QueueState, dedup_ops: list[st.PutDedup],
                  future: asyncio.Future[None]) -> list[str]:
        keys: list[str] = []
        for op in dedup_ops:
            q.dedup[op.dedup_id] = DedupEntry(op.message_id, op.expires_at, future)
            heapq.heappush(q.dedup_order, (op.expires_at, op.dedup_id))
            keys.append(op.dedup_id)
        return keys


async def _wait_all(waits: list[asyncio.Future[None]]) -> None:
    """A duplicate of a send still committing replies only once that send is durable."""
    for future in waits:
        try:
            await asyncio.shield(future)
        except Exception as err:
            raise Unavailable(f"the first send of this dedup_id failed: {err}") from err
