"""An in-memory ``QueueStore`` for unit tests: same contract as SQLite, nothing on disk.

It outlives the engines that use it, so a test can "restart" by building a new engine over the
same instance and see exactly what a restart over an SQLite file would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
        self._apply: dict[int, Callable[..., None]] = {
            s.ROOM_PUT: self._room_put,
            s.ROOM_DEL: self._room_del,
            s.QUEUE_PUT: self._queue_put,
            s.QUEUE_DEL: self._queue_del,
            s.QUEUE_CLEAR: self._queue_clear,
            s.MSG_PUT: self._msg_put,
            s.MSG_DEL: self._msg_del,
            s.MSG_UPDATE: self._msg_update,
            s.MSG_MOVE: self._msg_move,
            s.DEDUP_PUT: self._dedup_put,
            s.DEDUP_PRUNE: self._dedup_prune,
        }

    async def load(self) -> s.Snapshot:
        messages = sorted(self.messages.values(), key=lambda m: m[3])
        return s.Snapshot(
            rooms=sorted(self.rooms.items()),
            queues=list(self.queues.values()),
            messages=[_stored(m) for m in messages],
            dedup=list(self.dedup.values()),
        )

    def submit(self, ops: list[s.Op]) -> asyncio.Future[None]:
        for kind, params in ops:
            self._apply[kind](*params)
        self.commits += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def close(self) -> None:
        return None

    def _room_put(self, name: str, created_at: float) -> None:
        self.rooms[name] = created_at

    def _room_del(self, name: str) -> None:
        self.rooms.pop(name, None)

    def _queue_put(self, room: str, name: str, max_del: int, window: float, closed: bool,
                   created_at: float) -> None:
        self.queues[(room, name)] = s.StoredQueue(
            room=room, name=name, max_deliveries=max_del, dedup_window=window,
            closed=bool(closed), created_at=created_at,
        )

    def _queue_del(self, room: str, name: str) -> None:
        self._queue_clear(room, name)
        self.queues.pop((room, name), None)
        for key in [k for k in self.dedup if k[0] == room and k[1] == name]:
            del self.dedup[key]

    def _queue_clear(self, room: str, name: str) -> None:
        for mid in [i for i, m in self.messages.items() if m[1] == room and m[2] == name]:
            del self.messages[mid]

    def _msg_put(self, *fields: Any) -> None:
        self.messages[fields[3]] = list(fields)

    def _msg_del(self, mid: int) -> None:
        self.messages.pop(mid, None)

    def _msg_update(self, attempts: int, ready_at: float, headers_json: str, mid: int) -> None:
        row = self.messages.get(mid)
        if row is not None:
            row[7], row[8], row[5] = attempts, ready_at, headers_json

    def _msg_move(self, room: str, queue: str, attempts: int, ready_at: float,
                  headers_json: str, mid: int) -> None:
        row = self.messages.get(mid)
        if row is not None:
            row[1], row[2] = room, queue
            self._msg_update(attempts, ready_at, headers_json, mid)

    def _dedup_put(self, room: str, queue: str, dedup_id: str, message_id: str,
                   expires_at: float) -> None:
        self.dedup[(room, queue, dedup_id)] = s.StoredDedup(
            room=room, queue=queue, dedup_id=dedup_id, message_id=message_id,
            expires_at=expires_at,
        )

    def _dedup_prune(self, room: str, queue: str, now: float) -> None:
        for key, rec in list(self.dedup.items()):
            if key[0] == room and key[1] == queue and rec.expires_at <= now:
                del self.dedup[key]


def _stored(m: list[Any]) -> s.StoredMessage:
    return s.StoredMessage(
        id=m[0], room=m[1], queue=m[2], seq=m[3], body=m[4], headers_json=m[5],
        enqueued_at=m[6], attempts=m[7], ready_at=m[8],
    )
