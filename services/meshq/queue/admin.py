"""Administration: rooms and queues created and removed, opened, closed, drained, redriven;
peek and a message's state (both may read the store: cold messages live only there)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from meshq.core.errors import AlreadyExists, FailedPrecondition, ResourceExhausted
from meshq.core.validation import check_name
from meshq.queue import store as st
from meshq.queue import validate as v
from meshq.queue.bodies import BodyReader
from meshq.queue.commitlog import CommitLog
from meshq.queue.leaser import Leaser
from meshq.queue.model import (
    Delivery,
    MessageState,
    MessageStatus,
    QueueInfo,
    QueueLimits,
    QueueOptions,
    RoomInfo,
    dlq_name,
    is_dlq,
    new_delivery,
)
from meshq.queue.registry import STATES, Registry, queue_record, room_info
from meshq.queue.state import DELAYED, FETCHING, LEASED, Msg, QueueState, RoomState

DEFAULT_PEEK = 10


class Admin:
    """Everything but sending and leasing; each change is committed before it returns."""

    def __init__(self, *, registry: Registry, log: CommitLog, leaser: Leaser,
                 limits: QueueLimits,
                 bodies: BodyReader,
                 find: Callable[[str], Awaitable[st.StoredMessage | None]]) -> None:
        self._registry = registry
        self._log = log
        self._leaser = leaser
        self._limits = limits
        self._bodies = bodies
        self._find = find

    # -- rooms ------------------------------------------------------------------------------

    async def create_room(self, name: str, *, if_not_exists: bool = False
                          ) -> tuple[RoomInfo, bool]:
        check_name("room", name)
        self._log.check_running()
        room = self._registry.rooms.get(name)
        if room is not None:
            if not if_not_exists:
                raise AlreadyExists(f"room {name!r} exists already")
            return room_info(room), False
        room, op = self._registry.add_room(name)
        await self._log.commit([op])
        return room_info(room), True

    async def delete_room(self, name: str, *, force: bool = False) -> None:
        """Delete a room; with queues in it only when ``force`` (they go too)."""
        room = self._registry.room(name)
        self._log.check_running()
        if room.queues and not force:
            raise FailedPrecondition(f"room {name!r} still has {len(room.queues)} queues; "
                                     "delete them first or pass force")
        ops: list[st.Op] = []
        for q in list(room.queues.values()):
            self._forget_queue(room, q, ops)
        del self._registry.rooms[name]
        ops.append(st.DeleteRoom(name))
        await self._log.commit(ops)

    # -- queues -----------------------------------------------------------------------------

    async def create_queue(self, room_name: str, queue: str, options: QueueOptions
                           ) -> QueueState:
        ops: list[st.Op] = []
        rooms = self._registry.rooms
        room = rooms.get(room_name)
        if room is not None and len(room.queues) >= self._limits.max_queues_per_room:
            raise ResourceExhausted(f"room {room_name!r} holds {len(room.queues)} queues, the "
                                    f"limit; delete one first")
        new_room = room is None
        if room is None:
            room, op = self._registry.add_room(room_name)
            ops.append(op)
        q, op = self._registry.add_queue(room, queue, options)
        ops.append(op)
        try:
            await self._log.commit(ops)
        except BaseException:
            # Not stored: later writes must not name a queue (or room) that has no row.
            if room.queues.get(queue) is q:
                del room.queues[queue]
            if new_room and not room.queues and rooms.get(room_name) is room:
                del rooms[room_name]
            raise
        return q

    async def open_queue(self, room: str, queue: str, options: QueueOptions | None = None
                         ) -> QueueInfo:
        """Create the queue (and room) if missing, reopen it if closed, apply options."""
        v.check_target(room, queue)
        if options is not None:
            v.check_options(options)
        self._log.check_running()
        q = self._registry.find(room, queue)
        if q is None:
            await self.create_queue(room, queue, options or QueueOptions())
            return self._registry.queue_info(room, queue)
        q.closed = False
        if options is not None:
            q.options = options
        q.wake()
        for sub in q.subs:
            sub.wake()
        await self._log.commit([queue_record(q)])
        return self._registry.queue_info(room, queue)

    async def close_queue(self, room: str, queue: str) -> None:
        """Refuse Send, Receive and new deliveries until reopened; settling still works."""
        q = self._registry.existing(room, queue)
        q.closed = True
        q.wake()
        await self._log.commit([queue_record(q)])

    async def drain_queue(self, room: str, queue: str) -> int:
        """Remove every message (ready, delayed, leased); returns how many."""
        q = self._registry.existing(room, queue)
        count = q.size()
        self._leaser.release_all(q)
        await self._log.commit([st.ClearQueue(room, queue)])
        return count

    def _forget_queue(self, room: RoomState, q: QueueState, ops: list[st.Op]) -> None:
        self._leaser.release_all(q)
        q.deleted = True
        q.end_streams()
        del room.queues[q.name]
        ops.append(st.DeleteQueue(q.room, q.name))

    async def delete_queue(self, room: str, queue: str) -> None:
        """Delete the queue and its messages; its dead-letter queue stays."""
        q = self._registry.existing(room, queue)
        ops: list[st.Op] = []
        self._forget_queue(self._registry.rooms[room], q, ops)
        await self._log.commit(ops)

    async def redrive(self, room: str, queue: str, max_messages: int = 0) -> int:
        """Move messages of ``<queue>.dlq`` (not leased ones) back, oldest first, attempts 0."""
        q = self._registry.existing(room, queue)
        max_messages = max(max_messages, 0)
        dq = self._registry.rooms[room].queues.get(dlq_name(queue))
        if dq is None or is_dlq(queue):
            return 0
        entries = dq.ready.drain()
        dq.n_ready = 0
        delayed = [m for m in dq.msgs.values() if m.state == DELAYED]
        candidates = sorted([*entries, *((m.seq, m, m.enqueued_at) for m in delayed)],
                            key=lambda c: c[0])
        chosen = candidates[:max_messages] if max_messages else candidates
        for _, entry, enqueued_at in candidates[len(chosen):]:  # back where they were
            if isinstance(entry, Msg):
                if entry.state != DELAYED:
                    dq.make_ready(entry)
            else:
                dq.ready.push_cold(entry, enqueued_at)
                dq.n_ready += 1
        cold: list[tuple[int, float]] = []
        for _, entry, enqueued_at in chosen:
            if isinstance(entry, Msg):
                if entry.state == DELAYED:
                    dq.n_delayed -= 1
                del dq.msgs[entry.id]
                entry.q = q
                entry.attempts = 0
                entry.ready_at = 0.0
                q.msgs[entry.id] = entry
                q.make_ready(entry)
            else:
                cold.append((entry, enqueued_at))
        epoch = q.epoch
        if chosen:
            q.wake()
            await self._log.commit([st.ResetMessages(room, queue, [c[0] for c in chosen])])
        # A cold message is taken by reading its row: it becomes ready only once the row
        # says where it now is and that it starts again at attempt 1.
        if cold and q.epoch == epoch and not q.deleted:
            for seq, enqueued_at in cold:
                q.ready.push_cold(seq, enqueued_at)
            q.n_ready += len(cold)
            q.wake()
        return len(chosen)

    # -- reads that may need the store ------------------------------------------------------

    async def peek(self, room: str, queue: str, max_messages: int) -> list[Delivery]:
        """The next ready messages, oldest first, without leasing them."""
        q = self._registry.existing(room, queue)
        n = v.check_count("max_messages", max_messages or DEFAULT_PEEK, self._limits)
        entries = q.ready.first(n)
        need = [e if isinstance(e, int) else e.seq for e in entries
                if isinstance(e, int) or e.body is None]
        rows = {r.seq: r for r in await self._bodies.rows(need)} if need else {}
        out: list[Delivery] = []
        for e in entries:
            if isinstance(e, Msg) and e.body is not None:
                out.append(new_delivery(e.id, e.body, e.headers, e.enqueued_at,
                                        e.attempts + 1, q.name))
                continue
            row = rows.get(e if isinstance(e, int) else e.seq)
            if row is None:  # removed while it was read
                continue
            headers = json.loads(row.headers_json) if row.headers_json != "{}" else {}
            out.append(new_delivery(row.id, row.body, headers, row.enqueued_at,
                                    row.attempts + 1, q.name))
        return out

    async def message_state(self, room: str, queue: str, message_id: str) -> MessageStatus:
        """Where a message is, and its delivery attempts so far."""
        q = self._registry.existing(room, queue)
        if not isinstance(message_id, str):
            return MessageStatus(MessageState.GONE, 0)
        msg = q.msgs.get(message_id)
        if msg is not None:
            attempts = msg.attempts + (1 if msg.state in (LEASED, FETCHING) else 0)
            return MessageStatus(STATES[msg.state], attempts)
        row = await self._find(message_id)
        if row is None or (row.room, row.queue) != (room, queue) or q.deleted:
            return MessageStatus(MessageState.GONE, 0)
        return MessageStatus(MessageState.READY, row.attempts)  # cold: ready in the store
