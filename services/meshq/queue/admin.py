"""Rooms and queue administration: create, open, close, drain, delete, list, peek, redrive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from meshq.core.errors import AlreadyExists, FailedPrecondition, ResourceExhausted
from meshq.core.validation import check_name
from meshq.queue import store as st
from meshq.queue import validate as v
from meshq.queue.leaser import Leaser
from meshq.queue.model import (
    QueueInfo,
    QueueLimits,
    QueueOptions,
    RoomInfo,
    dlq_name,
    is_dlq,
)
from meshq.queue.observer import QueueObserver
from meshq.queue.registry import Registry, room_info
from meshq.queue.state import DELAYED, GONE, LEASED, READY, QueueState, RoomState


class AdminMixin:
    """Administration half of ``QueueEngine`` (which provides the attributes below)."""

    _rooms: dict[str, RoomState]
    _clock: Callable[[], float]
    _leaser: Leaser
    _observer: QueueObserver
    limits: QueueLimits
    registry: Registry
    _commit: Callable[[list[st.Op]], Awaitable[None]]
    _existing: Callable[[str, str], QueueState]
    _check_running: Callable[[], None]

    # -- rooms ------------------------------------------------------------------------------

    async def create_room(self, name: str, *, if_not_exists: bool = False
                          ) -> tuple[RoomInfo, bool]:
        check_name("room", name)
        self._check_running()
        room = self._rooms.get(name)
        if room is not None:
            if not if_not_exists:
                raise AlreadyExists(f"room {name!r} exists already")
            return room_info(room), False
        room = self._rooms[name] = RoomState(name, self._clock())
        await self._commit([(st.ROOM_PUT, (name, room.created_at))])
        return room_info(room), True

    async def delete_room(self, name: str, *, force: bool = False) -> None:
        """Delete a room; with queues in it only when ``force`` (they go too)."""
        room = self.registry.room(name)
        self._check_running()
        if room.queues and not force:
            raise FailedPrecondition(f"room {name!r} still has {len(room.queues)} queues; "
                                     "delete them first or pass force")
        ops: list[st.Op] = []
        for q in list(room.queues.values()):
            self._forget_queue(room, q, ops)
        del self._rooms[name]
        ops.append((st.ROOM_DEL, (name,)))
        await self._commit(ops)

    # -- queues -----------------------------------------------------------------------------

    async def _create_queue(self, room_name: str, queue: str, options: QueueOptions
                            ) -> QueueState:
        ops: list[st.Op] = []
        room = self._rooms.get(room_name)
        if room is not None and len(room.queues) >= self.limits.max_queues_per_room:
            raise ResourceExhausted(f"room {room_name!r} holds {len(room.queues)} queues, the "
                                    f"limit; delete one first")
        new_room = room is None
        if room is None:
            room = self._rooms[room_name] = RoomState(room_name, self._clock())
            ops.append((st.ROOM_PUT, (room_name, room.created_at)))
        q = self._add_queue(room, queue, options, ops)
        try:
            await self._commit(ops)
        except BaseException:
            # Not stored: later writes must not name a queue (or room) that has no row.
            if room.queues.get(queue) is q:
                del room.queues[queue]
            if new_room and not room.queues and self._rooms.get(room_name) is room:
                del self._rooms[room_name]
            raise
        return q

    def _add_queue(self, room: RoomState, name: str, options: QueueOptions,
                   ops: list[st.Op]) -> QueueState:
        q = room.queues[name] = QueueState(room.name, name, options, self._clock())
        ops.append(_queue_put(q))
        return q

    def _dlq_for(self, q: QueueState, ops: list[st.Op]) -> QueueState:
        """The dead-letter queue of ``q``, created on first use (never refused by limits)."""
        room = self._rooms[q.room]
        name = dlq_name(q.name)
        dq = room.queues.get(name)
        return dq if dq is not None else self._add_queue(room, name, QueueOptions(), ops)

    async def open_queue(self, room: str, queue: str, options: QueueOptions | None = None
                         ) -> QueueInfo:
        """Create the queue (and room) if missing, reopen it if closed, apply options."""
        v.check_target(room, queue)
        if options is not None:
            v.check_options(options)
        self._check_running()
        r = self._rooms.get(room)
        q = r.queues.get(queue) if r is not None else None
        if q is None:
            q = await self._create_queue(room, queue, options or QueueOptions())
            return self.registry.queue_info(room, queue)
        q.closed = False
        if options is not None:
            q.options = options
        q.wake()
        for sub in q.subs:
            sub.wake()
        await self._commit([_queue_put(q)])
        return self.registry.queue_info(room, queue)

    async def close_queue(self, room: str, queue: str) -> None:
        """Refuse Send, Receive and new deliveries until reopened; settling still works."""
        q = self._existing(room, queue)
        q.closed = True
        q.wake()
        await self._commit([_queue_put(q)])

    def _clear(self, q: QueueState) -> int:
        """Forget every message of ``q`` in memory; leased tokens become stale."""
        count = len(q.msgs)
        for msg in q.msgs.values():
            if msg.state == LEASED:
                self._leaser.timers.remove_lease(msg)
                if msg.owner is not None:
                    msg.owner.unsettled.discard(msg.token)
            msg.state = GONE
            msg.ver += 1
        q.msgs.clear()
        q.leases.clear()
        q.ready.clear()
        q.n_ready = q.n_delayed = 0
        q.epoch += 1
        return count

    async def drain_queue(self, room: str, queue: str) -> int:
        """Remove every message (ready, delayed, leased); returns how many."""
        q = self._existing(room, queue)
        count = self._clear(q)
        await self._commit([(st.QUEUE_CLEAR, (room, queue))])
        return count

    def _forget_queue(self, room: RoomState, q: QueueState, ops: list[st.Op]) -> None:
        self._clear(q)
        q.deleted = True
        q.end_streams()
        del room.queues[q.name]
        ops.append((st.QUEUE_DEL, (q.room, q.name)))

    async def delete_queue(self, room: str, queue: str) -> None:
        """Delete the queue and its messages; its dead-letter queue stays."""
        q = self._existing(room, queue)
        ops: list[st.Op] = []
        self._forget_queue(self._rooms[room], q, ops)
        await self._commit(ops)

    async def redrive(self, room: str, queue: str, max_messages: int = 0) -> int:
        """Move messages of ``<queue>.dlq`` (not leased ones) back, oldest first, attempts 0."""
        q = self._existing(room, queue)
        if max_messages < 0:
            max_messages = 0
        dq = self._rooms[room].queues.get(dlq_name(queue))
        if dq is None or is_dlq(queue):
            return 0
        movable = sorted((m for m in dq.msgs.values() if m.state in (READY, DELAYED)),
                         key=lambda m: m.seq)
        if max_messages:
            movable = movable[:max_messages]
        ops: list[st.Op] = []
        for msg in movable:
            if msg.state == READY:
                dq.n_ready -= 1
            else:
                dq.n_delayed -= 1
            del dq.msgs[msg.id]
            msg.q = q
            msg.attempts = 0
            msg.ready_at = 0.0
            q.msgs[msg.id] = msg
            q.make_ready(msg)
            ops.append((st.MSG_MOVE, (room, queue, 0, 0.0, msg.headers_json, msg.seq)))
        if ops:
            q.wake()
            await self._commit(ops)
        return len(ops)


def _queue_put(q: QueueState) -> st.Op:
    return (st.QUEUE_PUT, (q.room, q.name, q.options.max_deliveries,
                           q.options.dedup_window_seconds, int(q.closed), q.created_at))
