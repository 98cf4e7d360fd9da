"""Send: dedup, depth limit, one store batch per call, applied to memory after the commit."""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import os
from typing import TYPE_CHECKING

from meshq.core.errors import ResourceExhausted, Unavailable
from meshq.queue import store as st
from meshq.queue.model import Sent
from meshq.queue.state import DELAYED, DedupEntry, Msg, QueueState
from meshq.queue.validate import Prepared

if TYPE_CHECKING:
    from meshq.queue.engine import QueueEngine


class Sender:
    """Owns message ids and enqueue sequence numbers."""

    def __init__(self, engine: QueueEngine) -> None:
        self._engine = engine
        self.next_seq = 1
        self._prefix = os.urandom(5).hex()  # ids stay unique across restarts
        self._counter = itertools.count(1)

    def place(self, q: QueueState, msg: Msg, now: float) -> None:
        """Put a stored message where it belongs: ready, or delayed until ``ready_at``."""
        if msg.ready_at > now:
            msg.state = DELAYED
            msg.ver += 1
            q.n_delayed += 1
            self._engine._leaser.timers.add_delayed(msg)
        else:
            q.make_ready(msg)

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
            ops.append((st.DEDUP_PRUNE, (q.room, q.name, now)))

    def _split(self, q: QueueState, batch: list[Prepared], now: float
               ) -> tuple[list[Sent], list[tuple[str, Prepared]], list[asyncio.Future[None]]]:
        """Decide which messages are new and which repeat a remembered dedup_id."""
        results: list[Sent] = []
        fresh: list[tuple[str, Prepared]] = []
        waits: list[asyncio.Future[None]] = []
        in_batch: dict[str, str] = {}
        prefix, counter = self._prefix, self._counter
        for p in batch:
            dedup_id = p[4]
            if dedup_id:
                entry = q.dedup.get(dedup_id)
                if entry is not None and entry.expires_at > now:
                    results.append(Sent(entry.message_id, True))
                    if entry.commit is not None:
                        waits.append(entry.commit)
                    continue
                first = in_batch.get(dedup_id)
                if first is not None:
                    results.append(Sent(first, True))
                    continue
            mid = f"{prefix}{next(counter):010x}"
            if dedup_id:
                in_batch[dedup_id] = mid
            fresh.append((mid, p))
            results.append(Sent(mid, False))
        return results, fresh, waits

    async def send(self, q: QueueState, batch: list[Prepared]) -> list[Sent]:
        """Enqueue ``batch`` durably; (message_id, duplicate) per message, in order."""
        engine = self._engine
        now = engine._clock()
        ops: list[st.Op] = []
        self._prune_dedup(q, now, ops)
        results, fresh, waits = self._split(q, batch, now)
        n = len(fresh)
        if n and q.depth() + n > engine.limits.max_depth:
            raise ResourceExhausted(
                f"queue {q.name!r} holds {q.depth()} messages; {n} more would pass the limit "
                f"of {engine.limits.max_depth}"
            )
        room, name, seq = q.room, q.name, self.next_seq
        self.next_seq += n
        window = q.options.dedup_window_seconds
        msgs: list[Msg] = []
        dedup_ops: list[st.Op] = []
        for i, (mid, (body, headers, headers_json, delay, dedup_id, own)) in enumerate(fresh):
            ready_at = now + delay if delay else 0.0
            ops.append((st.MSG_PUT, (mid, room, name, seq + i, body, headers_json, now, 0,
                                     ready_at)))
            msgs.append(Msg(mid, body, headers, headers_json, now, 0, seq + i, ready_at, q))
            if dedup_id and (own or window) > 0:
                dedup_ops.append((st.DEDUP_PUT, (room, name, dedup_id, mid,
                                                 now + (own or window))))
        ops.extend(dedup_ops)
        if not ops:
            await _wait_all(waits)
            return results
        future = engine._submit(ops)
        entries = self._remember(q, dedup_ops, future)
        q.pending += n
        done = functools.partial(self._committed, q, msgs, entries, now, q.epoch)
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

    def _committed(self, q: QueueState, msgs: list[Msg], entries: list[str], now: float,
                   epoch: int, future: asyncio.Future[None]) -> None:
        """The commit of one send ended: place its messages, or forget its dedup records."""
        n = len(msgs)
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
            self._engine._commit_failed(future)
            return
        if n and q.epoch == epoch and not q.deleted:
            for msg in msgs:
                q.msgs[msg.id] = msg
                self.place(q, msg, now)
            q.wake()
        if n:
            self._engine._observer.sent(q.room, q.name, n)

    def _remember(self, q: QueueState, dedup_ops: list[st.Op],
                  future: asyncio.Future[None]) -> list[str]:
        keys: list[str] = []
        for _, (_, _, dedup_id, mid, expires) in dedup_ops:
            q.dedup[dedup_id] = DedupEntry(mid, expires, future)
            heapq.heappush(q.dedup_order, (expires, dedup_id))
            keys.append(dedup_id)
        return keys


async def _wait_all(waits: list[asyncio.Future[None]]) -> None:
    """A duplicate of a send still committing replies only once that send is durable."""
    for future in waits:
        try:
            await asyncio.shield(future)
        except Exception as err:
            raise Unavailable(f"the first send of this dedup_id failed: {err}") from err
