"""An in-memory ``QueueStore`` for unit tests: same contract as SQLite, nothing on disk.

It outlives the engines that use it, so a test can "restart" by building a new engine over the
same instance and see exactly what a restart over an SQLite file would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from meshq.queue import store as s


class MemoryQueueStore:
    """Dicts keyed like the SQLite tables; ``submit`` applies at once."""

    def __init__(self) -> None:
        self.rooms: dict[str, float] = {}
        self.queues: dict[tuple[str, str], s.StoredQueue] = {}
        self.messages: dict[int, list[Any]] = {}  # seq -> StoredMessage fields, in order
        self.dedup: dict[tuple[str, str, str], s.StoredDedup] = {}
        self.commits = 0

    async def load(self, now: float) -> s.Snapshot:
        snap = s.Snapshot(rooms=sorted(self.rooms.items()), queues=list(self.queues.values()),
                          dedup=list(self.dedup.values()), max_seq=max(self.messages, default=0))
        runs: dict[tuple[str, str], s.ReadyRun] = {}
        for seq in sorted(self.messages):
            m = self.messages[seq]
            if m[8] > now:
                snap.delayed.append(_index_row(m))
                continue
            run = runs.get((m[1], m[2]))
            if run is None:
                run = runs[(m[1], m[2])] = s.ReadyRun(room=m[1], queue=m[2])
            run.pairs.append(seq)
            run.pairs.append(m[6])
        snap.ready = list(runs.values())
        snap.count = len(self.messages)
        return snap

    def submit(self, ops: list[s.Op]) -> asyncio.Future[None]:
        for op in ops:
            self._apply(op)
        self.commits += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def read(self, seqs: Sequence[int]) -> list[s.StoredBody]:
        rows = [self.messages[q] for q in seqs if q in self.messages]
        return [s.StoredBody(m[3], m[0], m[4], m[5], m[6], m[7]) for m in rows]

    async def find(self, message_id: str) -> s.StoredMessage | None:
        seq = s.message_seq(message_id)
        rows = ([self.messages[seq]] if seq in self.messages else []) if seq is not None else [
            m for m in self.messages.values() if m[0] == message_id]
        for m in rows:
            if m[0] == message_id:
                return _index_row(m)
        return None

    async def close(self) -> None:
        return None

    def _apply(self, op: s.Op) -> None:  # noqa: C901 - one branch per kind of record
        if isinstance(op, s.PutMessages):
            for mid, seq, body, headers_json, ready_at in op.rows:
                self.messages[seq] = [mid, op.room, op.queue, seq, body, headers_json,
                                      op.enqueued_at, 0, ready_at]
        elif isinstance(op, s.DeleteMessages):
            for seq in op.seqs:
                self.messages.pop(seq, None)
        elif isinstance(op, s.UpdateMessages):
            for c in op.changes:
                self._change(c)
        elif isinstance(op, s.MoveMessages):
            for c in op.changes:
                row = self.messages.get(c.seq)
                if row is not None:
                    row[1], row[2] = op.room, op.queue
                    self._change(c)
        elif isinstance(op, s.ResetMessages):
            for seq in op.seqs:
                row = self.messages.get(seq)
                if row is not None:
                    row[1], row[2], row[7], row[8] = op.room, op.queue, 0, 0.0
        elif isinstance(op, s.PutRoom):
            self.rooms[op.name] = op.created_at
        elif isinstance(op, s.DeleteRoom):
            self.rooms.pop(op.name, None)
        elif isinstance(op, s.PutQueue):
            self.queues[(op.room, op.name)] = s.StoredQueue(*op)
        elif isinstance(op, s.DeleteQueue):
            self._clear(op.room, op.name)
            self.queues.pop((op.room, op.name), None)
            for key in [k for k in self.dedup if k[:2] == (op.room, op.name)]:
                del self.dedup[key]
        elif isinstance(op, s.ClearQueue):
            self._clear(op.room, op.name)
        elif isinstance(op, s.PutDedup):
            self.dedup[(op.room, op.queue, op.dedup_id)] = s.StoredDedup(*op)
        elif isinstance(op, s.PruneDedup):
            for key, rec in list(self.dedup.items()):
                if key[:2] == (op.room, op.queue) and rec.expires_at <= op.now:
                    del self.dedup[key]

    def _change(self, c: s.Change) -> None:
        row = self.messages.get(c.seq)
        if row is not None:
            row[7], row[8], row[5] = c.attempts, c.ready_at, c.headers_json

    def _clear(self, room: str, name: str) -> None:
        for seq in [q for q, m in self.messages.items() if m[1] == room and m[2] == name]:
            del self.messages[seq]


def _index_row(m: list[Any]) -> s.StoredMessage:
    """A stored message without its body."""
    return s.StoredMessage(m[0], m[1], m[2], m[3], "", m[5], m[6], m[7], m[8])
