"""Shared by the pool tests: polling with a deadline, sending jobs, reading a queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from meshq.api.rooms import RoomClient


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float,
                     what: str, every: float = 0.1) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds.

    Used where no event exists to wait on (the state lives in other processes).
    """
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(every)


async def send_jobs(server: Any, room: str, queue: str, jobs: list[dict[str, Any]]) -> None:
    conn = server.connection()
    try:
        await RoomClient(room=room, connection=conn).queues.send_many(queue, jobs)
    finally:
        await conn.close()


def queue_counts(server: Any, room: str, queue: str) -> tuple[int, int, int]:
    """(ready, in flight, dead-lettered) of a queue on the in-process engine."""
    info = server.engine.registry.queue_info(room, queue)
    return info.depth + info.delayed, info.in_flight, info.dead_lettered
