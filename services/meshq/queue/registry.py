"""The registry: every room and queue the engine holds in memory, their lookups and counts.

It owns the ``rooms`` map (the only one) and answers the read-only questions synchronously:
what the engine's async reads return, and what in-process callers that cannot await (the
Prometheus collector at scrape time, tests) read directly. It changes nothing it is asked
about; the admin part and the sender add and remove rooms and queues in it.
"""

from __future__ import annotations

from collections.abc import Callable

from meshq.core.errors import NotFound
from meshq.core.validation import check_name
from meshq.queue import validate as v
from meshq.queue.model import (
    Delivery,
    MessageState,
    MessageStatus,
    QueueInfo,
    QueueLimits,
    RoomInfo,
    dlq_name,
    is_dlq,
    new_delivery,
)
from meshq.queue.state import DELAYED, LEASED, READY, QueueState, RoomState

DEFAULT_PEEK = 10
_STATES = {READY: MessageState.READY, DELAYED: MessageState.DELAYED,
           LEASED: MessageState.IN_FLIGHT}


class Registry:
    """Rooms by name, each with its queues by name."""

    def __init__(self, *, clock: Callable[[], float], limits: QueueLimits,
                 check_healthy: Callable[[], None],
                 check_running: Callable[[], None]) -> None:
        self.rooms: dict[str, RoomState] = {}
        self._clock = clock
        self._limits = limits
        self._check_healthy = check_healthy
        self._check_running = check_running

    # -- lookups ----------------------------------------------------------------------------

    def find(self, room: str, queue: str) -> QueueState | None:
        r = self.rooms.get(room)
        return r.queues.get(queue) if r is not None else None

    def existing(self, room: str, queue: str) -> QueueState:
        """The queue, or NotFound naming what is missing (a running engine only)."""
        v.check_target(room, queue)
        self._check_running()
        q = self.find(room, queue)
        if q is None:
            if room not in self.rooms:
                raise NotFound(f"room {room!r} does not exist")
            raise NotFound(f"queue {queue!r} does not exist in room {room!r}; "
                           "send with create=true or open it first")
        return q

    def room(self, name: str) -> RoomState:
        check_name("room", name)
        self._check_healthy()
        room = self.rooms.get(name)
        if room is None:
            raise NotFound(f"room {name!r} does not exist")
        return room

    def all_queues(self) -> list[QueueState]:
        return [q for r in self.rooms.values() for q in r.queues.values()]

    # -- views ------------------------------------------------------------------------------

    def get_room(self, name: str) -> RoomInfo:
        return room_info(self.room(name))

    def list_rooms(self) -> list[RoomInfo]:
        self._check_healthy()
        return [room_info(r) for _, r in sorted(self.rooms.items())]

    def list_queues(self, room: str) -> list[QueueInfo]:
        r = self.room(room)
        return [self._info(r, q) for _, q in sorted(r.queues.items())]

    def queue_info(self, room: str, queue: str) -> QueueInfo:
        q = self.existing(room, queue)
        return self._info(self.rooms[room], q)

    def _info(self, room: RoomState, q: QueueState) -> QueueInfo:
        dq = None if is_dlq(q.name) else room.queues.get(dlq_name(q.name))
        first = q.ready.first() if q.n_ready else None
        return QueueInfo(
            name=q.name, depth=q.n_ready, in_flight=len(q.leases), delayed=q.n_delayed,
            dead_lettered=len(dq.msgs) if dq is not None else 0,
            oldest_age_seconds=max(0.0, self._clock() - first.enqueued_at) if first else 0.0,
            closed=q.closed, options=q.options,
        )

    def peek(self, room: str, queue: str, max_messages: int) -> list[Delivery]:
        """The next ready messages, oldest first, without leasing them."""
        q = self.existing(room, queue)
        n = v.check_count("max_messages", max_messages or DEFAULT_PEEK, self._limits)
        out: list[Delivery] = []
        for msg in q.ready.in_order():
            if len(out) >= n:
                break
            out.append(new_delivery(msg.id, msg.body, msg.headers, msg.enqueued_at,
                                    msg.attempts + 1, q.name))
        return out

    def message_state(self, room: str, queue: str, message_id: str) -> MessageStatus:
        """Where a message is, and its delivery attempts so far."""
        q = self.existing(room, queue)
        msg = q.msgs.get(message_id) if isinstance(message_id, str) else None
        if msg is None:
            return MessageStatus(MessageState.GONE, 0)
        attempts = msg.attempts + (1 if msg.state == LEASED else 0)
        return MessageStatus(_STATES[msg.state], attempts)


def room_info(room: RoomState) -> RoomInfo:
    return RoomInfo(name=room.name, created_at=room.created_at, queue_count=len(room.queues))
