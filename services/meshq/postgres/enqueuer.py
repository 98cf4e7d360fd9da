"""The scheduler's in-process enqueuer over any ``QueueBackend`` (the PostgreSQL one here).

The embedded ``EngineEnqueuer`` reads the engine's in-memory registry; this one uses only
the Protocol's calls, so it works on a backend whose state is in a database. Its sends of a
fire repeat the dedup id that ``PgScheduleStore.record`` already inserted the message
under, so they enqueue nothing new and return that message's id.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshq.core.errors import NotFound
from meshq.queue.backend import QueueBackend
from meshq.queue.model import MessageState, NewMessage
from meshq.scheduler.enqueuer import Outgoing


class BackendEnqueuer:
    """``Enqueuer`` over a ``QueueBackend``."""

    def __init__(self, backend: QueueBackend) -> None:
        self.backend = backend

    async def room_exists(self, room: str) -> bool:
        try:
            await self.backend.get_room(room)
        except NotFound:
            return False
        return True

    async def send_many(self, room: str, queue: str, messages: Sequence[Outgoing]) -> list[str]:
        batch = [NewMessage(body=m.body, headers=m.headers, dedup_id=m.dedup_id,
                            delay_seconds=m.delay_seconds,
                            dedup_window_seconds=m.dedup_window_seconds) for m in messages]
        try:
            await self.backend.queue_info(room, queue)
            create = False
        except NotFound:
            if not await self.room_exists(room):
                raise NotFound(f"room {room!r} does not exist") from None
            create = True
        results = await self.backend.send(room, queue, batch, create=create)
        return [r.message_id for r in results]

    async def is_pending(self, room: str, queue: str, message_id: str) -> bool:
        try:
            status = await self.backend.message_state(room, queue, message_id)
        except NotFound:
            return False
        return status.state is not MessageState.GONE
