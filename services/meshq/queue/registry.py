"""The registry: every room and queue the engine holds in memory, their lookups, counts and
dead-letter queues.

It owns the ``rooms`` map (the only one) and answers the read-only questions about rooms and
queues synchronously: what the engine's async reads return, and what in-process callers that
cannot await (the Prometheus collector at scrape time, tests) read directly. Rooms and queues
are added through it (``add_room``, ``add_queue``, ``dlq_for``), each addition returning the
store record that makes it durable; the admin part removes them.
"""

from __future__ import annotations

from collections.abc import Callable

from meshq.core.errors import NotFound
from meshq.core.validation import check_name
from meshq.queue import store as st
from meshq.queue import validate as v
from meshq.queue.flow import flow_record, is_indexed
from meshq.queue.model import (
    MessageState,
    QueueInfo,
    QueueLimits,
    QueueOptions,
    RoomInfo,
    dlq_name,
    is_dlq,
)
from meshq.queue.state import DELAYED, FETCHING, LEASED, READY, QueueState, RoomState

STATES = {READY: MessageState.READY, DELAYED: MessageState.DELAYED,
          LEASED: MessageState.IN_FLIGHT, FETCHING: MessageState.IN_FLIGHT}
"""A message object's state as callers see it (one being read for delivery is in flight)."""


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

    # -- additions --------------------------------------------------------------------------

    def add_room(self, name: str, created_at: float | None = None) -> tuple[RoomState, st.Op]:
        room = self.rooms[name] = RoomState(name, self._clock() if created_at is None
                                            else created_at)
        return room, st.PutRoom(name, room.created_at)

    def add_queue(self, room: RoomState, name: str, options: QueueOptions
                  ) -> tuple[QueueState, st.Op]:
        q = room.queues[name] = QueueState(room.name, name, options, self._clock())
        return q, queue_record(q)

    def dlq_for(self, q: QueueState, ops: list[st.Op]) -> QueueState:
        """The dead-letter queue of ``q``, created on first use (never refused by limits)."""
        room = self.rooms[q.room]
        name = dlq_name(q.name)
        dq = room.queues.get(name)
        if dq is None:
            dq, op = self.add_queue(room, name, QueueOptions())
            ops.append(op)
        return dq

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
        oldest = q.ready.oldest_enqueued_at() if q.n_ready else None
        return QueueInfo(
            name=q.name, depth=q.n_ready, in_flight=len(q.leases) + q.fetching,
            delayed=q.n_delayed, dead_lettered=dq.size() if dq is not None else 0,
            oldest_age_seconds=max(0.0, self._clock() - oldest) if oldest else 0.0,
            closed=q.closed, options=q.options,
        )


def room_info(room: RoomState) -> RoomInfo:
    return RoomInfo(name=room.name, created_at=room.created_at, queue_count=len(room.queues))


def queue_record(q: QueueState) -> st.PutQueue:
    """The store record of a queue's row as memory has it now."""
    return st.PutQueue(q.room, q.name, q.options.max_deliveries,
                       q.options.dedup_window_seconds, q.closed, q.created_at,
                       flow_record(q.options, is_indexed(q)))
