"""Reading bodies back: the part that turns taken cold entries into message objects.

A cold message (seq and enqueue time only) or a message object whose body is not kept in
memory is read from the store when it is taken for delivery, in one read per take; while the
read runs the entries count as *fetching* (in flight to callers). A drain or delete of the
queue meanwhile (its epoch moved) drops what was read.

A queue drained from disk also *reads ahead*: each fetch of cold messages starts the read of
the rows of the next ones in its cold run (up to ``READ_AHEAD``), in the reader thread, so
that the next take finds them read (or in flight) instead of waiting for a read of its own.
Only plain cold entries are read ahead: their rows do not change while they wait in the run
(a message that changes is an object by then), and a clear of the run (drain, delete,
redrive) voids what was read of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from meshq.queue import store as st
from meshq.queue.commitlog import CommitLog
from meshq.queue.state import FETCHING, Entry, Msg, QueueState

logger = logging.getLogger(__name__)

READ_AHEAD = 2000  # rows of a queue's next cold messages read before they are taken
READ_AHEAD_QUEUES = 64  # queues read ahead at once (the oldest is forgotten beyond)


class _Ahead:
    """What was read ahead of one queue's cold run: rows by seq, and reads in flight."""

    __slots__ = ("q", "epoch", "generation", "rows", "reads")

    def __init__(self, q: QueueState) -> None:
        self.q = q
        self.epoch = q.epoch
        self.generation = q.ready.cold.generation
        self.rows: dict[int, st.StoredBody] = {}
        self.reads: list[tuple[frozenset[int], asyncio.Future[list[st.StoredBody]]]] = []

    def valid(self, q: QueueState) -> bool:
        return (self.q is q and self.epoch == q.epoch
                and self.generation == q.ready.cold.generation)

    def held(self) -> int:
        return len(self.rows) + sum(len(seqs) for seqs, _ in self.reads)


class BodyReader:
    """Reads bodies for taken entries through ``read`` (``QueueStore.read``)."""

    def __init__(self, *, read: Callable[[Sequence[int]], Awaitable[list[st.StoredBody]]],
                 log: CommitLog) -> None:
        self._read = read
        self._log = log
        self._ahead: dict[tuple[str, str], _Ahead] = {}

    async def rows(self, seqs: Sequence[int]) -> list[st.StoredBody]:
        """The stored rows of ``seqs`` (peek)."""
        return await self._read(seqs)

    async def fetch(self, q: QueueState, entries: list[Entry]) -> list[Msg]:
        """Read the bodies of taken entries; message objects for those still in ``q``."""
        objects: dict[int, Msg] = {}
        seqs: list[int] = []
        for e in entries:
            if isinstance(e, int):
                seqs.append(e)
            else:
                e.state = FETCHING
                e.ver += 1
                objects[e.seq] = e
                seqs.append(e.seq)
        epoch = q.epoch
        q.fetching += len(entries)
        try:
            rows = await self._rows(q, seqs)
        except Exception as err:
            if self._log.running:  # the store cannot be read: memory no longer matches it
                self._log.mark_broken(err)
            raise
        finally:
            q.fetching -= len(entries)
        if q.epoch != epoch or q.deleted:
            return []  # drained or deleted meanwhile: nothing to deliver
        out: list[Msg] = []
        for row in rows:
            msg = objects.get(row.seq)
            if msg is None:
                headers = json.loads(row.headers_json) if row.headers_json != "{}" else {}
                msg = Msg(row.id, row.body, headers, row.headers_json, row.enqueued_at,
                          row.attempts, row.seq, 0.0, q)
                q.msgs[msg.id] = msg
            elif msg.state != FETCHING:
                continue
            else:
                msg.body = row.body
            out.append(msg)
        return out

    # -- reading ahead ----------------------------------------------------------------------

    async def _rows(self, q: QueueState, seqs: list[int]) -> list[st.StoredBody]:
        """The rows of ``seqs``: those read ahead, the rest read now; then read ahead."""
        ahead = self._ahead_of(q)
        wanted = set(seqs)
        for covered, read in list(ahead.reads):
            if not wanted.isdisjoint(covered):
                await asyncio.wait([read])  # its done-callback files the rows (or drops them)
        rows = ahead.rows
        found = [rows.pop(seq) for seq in seqs if seq in rows]
        if len(found) < len(seqs):
            have = {row.seq for row in found}
            found.extend(await self._read([seq for seq in seqs if seq not in have]))
        self._read_ahead(q, ahead)
        return found

    def _ahead_of(self, q: QueueState) -> _Ahead:
        key = (q.room, q.name)
        ahead = self._ahead.get(key)
        if ahead is None or not ahead.valid(q):
            ahead = _Ahead(q)
            self._ahead.pop(key, None)
            if len(self._ahead) >= READ_AHEAD_QUEUES:
                del self._ahead[next(iter(self._ahead))]
            self._ahead[key] = ahead
        return ahead

    def _read_ahead(self, q: QueueState, ahead: _Ahead) -> None:
        """Start reading the rows of the next cold seqs not read or in flight yet."""
        room = READ_AHEAD - ahead.held()
        if room <= 0 or not len(q.ready.cold):
            return
        taken = set(ahead.rows).union(*(covered for covered, _ in ahead.reads))
        seqs = [seq for seq in q.ready.cold.head_seqs(READ_AHEAD) if seq not in taken][:room]
        if not seqs:
            return
        covered = frozenset(seqs)
        read = asyncio.ensure_future(self._read(seqs))
        entry = (covered, read)
        ahead.reads.append(entry)

        def filed(done: asyncio.Future[list[st.StoredBody]]) -> None:
            ahead.reads.remove(entry)
            if done.cancelled():
                return
            if done.exception() is not None:  # the take that needs these rows reads again
                logger.debug("queue read-ahead failed: %s", done.exception())
                return
            if ahead.valid(q):
                ahead.rows.update((row.seq, row) for row in done.result())

        read.add_done_callback(filed)
