"""A slow reader of a wide Subscribe window burns no attempts (the SDK's BufferLeaser).

Window 1,000, lease 1 s, a queue that dead-letters at the second delivery, 100 messages, and
a reader that takes nothing while several leases run out: every message must still arrive
as attempt 1 and none may be dead-lettered. "Several leases" is observed, not slept: a control
message leased 1 s by a plain Receive is waited on until it has been redelivered three times,
so the server's timers have expired three leases meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from meshq.api.rooms import RoomClient

WINDOW, LEASE, COUNT, EXPIRIES = 1000, 1.0, 100, 3
HANG = 120.0  # seconds: only a hang takes this long


async def _leases_expire(room: RoomClient, queue: str, times: int) -> None:
    """Return once a message leased LEASE seconds at a time was redelivered ``times``."""
    await room.queues.open(queue, max_deliveries=times + 5)
    await room.queues.send(queue, "control")
    attempt = 0
    while attempt < times + 1:
        got = await room.queues.receive_messages(queue, wait=True, timeout=HANG / 4,
                                                 lease=LEASE)
        if got:
            assert got[0].attempt > attempt
            attempt = got[0].attempt


async def test_a_slow_reader_burns_no_attempts(server: Any, unique: str) -> None:
    async with RoomClient(room=unique, server=server.address, token=server.token,
                          timeout=30) as room:
        # Given a queue that dead-letters a message at its second delivery, with 100 in it
        await room.queues.open("jobs", max_deliveries=1)
        await room.queues.send_many("jobs", list(range(COUNT)))
        async with room.queues.subscribe("jobs", max_in_flight=WINDOW, lease=LEASE) as sub:
            # When the reader takes nothing while three leases run out
            async with asyncio.timeout(HANG):
                await _leases_expire(room, "control", EXPIRIES)
            # Then the server still has all 100 leased to this stream, none dead-lettered
            [jobs] = [q for q in await room.queues.list() if q.name == "jobs"]
            assert (jobs.in_flight, jobs.dead_lettered) == (COUNT, 0)
            # And the reader gets every one of them as its first attempt (taking is local:
            # what happens to a taken message's lease is the application's business)
            taken = [await anext(sub) for _ in range(COUNT)]
            assert sorted(m.body for m in taken) == list(range(COUNT))
            assert {m.attempt for m in taken} == {1}
