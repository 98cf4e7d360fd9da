"""stop() hands unfinished jobs back without charging them a failed delivery.

A job cut short by ``stop()`` (a deploy, a pool scaling down) did not fail: it must come back
with its attempt count unchanged, as the queue's own hand-back does, and never be
dead-lettered for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents.conftest import eventually
from meshq.agents.chat import ChatContext
from meshq.agents.worker import Worker
from meshq.api.rooms import RoomClient


class Blocking(Worker):
    """Starts every job and never finishes it; records each delivery's attempt."""

    def __init__(self, queue: str, **kwargs: Any) -> None:
        super().__init__(queue=queue, **kwargs)
        self.started = asyncio.Event()
        self.attempts: list[int] = []

    async def process_message(self, *, chat_context: ChatContext, room: Any, message: Any,
                              toolkits: Any) -> Any:
        self.attempts.append(int(chat_context.metadata.get("attempt", 0)))
        self.started.set()
        await asyncio.Event().wait()

    async def _process(self, msg: Any) -> Any:
        chat_context = self.init_chat_context()
        chat_context.metadata["attempt"] = msg.attempt
        return await self.process_message(chat_context=chat_context, room=self.room,
                                          message=msg.body, toolkits=[])


async def test_a_job_cut_short_by_stop_keeps_its_attempt_count(room: RoomClient,
                                                                unique: str) -> None:
    # Given a queue that dead-letters on the first failed delivery, and a job running on A
    await room.queues.open(unique, max_deliveries=1)
    message_id = await room.queues.send(unique, {"n": 1})
    a = Blocking(unique, stop_grace=0.05)
    await a.start(room)
    await a.started.wait()
    # When A stops before the job finishes
    await a.stop()
    # Then the job is back in the queue (not dead-lettered), its attempt count unchanged
    await eventually(lambda: _state(room, unique, message_id, "ready"), timeout=5,
                     what="the job back in the queue")
    status = await room.queues.message_state(unique, message_id)
    assert status.attempt == 0
    # And the next worker gets it as a first delivery
    b = Blocking(unique)
    async with b.serving(room):
        await asyncio.wait_for(b.started.wait(), 10)
        await b.stop(grace=0)
    assert a.attempts == [1] and b.attempts == [1]
    assert a.stats.handed_back == 1


async def _state(room: RoomClient, queue: str, message_id: str, want: str) -> bool:
    return (await room.queues.message_state(queue, message_id)).state == want
