"""Reading bodies back: the part that turns taken cold entries into message objects.

A cold message (seq and enqueue time only) or a message object whose body is not kept in
memory is read from the store when it is taken for delivery, in one read per take; while the
read runs the entries count as *fetching* (in flight to callers). A drain or delete of the
queue meanwhile (its epoch moved) drops what was read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from meshq.queue import store as st
from meshq.queue.commitlog import CommitLog
from meshq.queue.state import FETCHING, Entry, Msg, QueueState


class BodyReader:
    """Reads bodies for taken entries through ``read`` (``QueueStore.read``)."""

    def __init__(self, *, read: Callable[[Sequence[int]], Awaitable[list[st.StoredBody]]],
                 log: CommitLog) -> None:
        self._read = read
        self._log = log

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
            rows = await self._read(seqs)
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
