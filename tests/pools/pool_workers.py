"""Plain-Python Worker subclasses the pool tests run (importable by Ray actors too).

The pool tests put this directory on the actors' PYTHONPATH, so "pool_workers:SleepWorker"
imports the same way in the test process and in an actor process.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from meshq.agents.worker import Worker


class SleepWorker(Worker):
    """Each job awaits ``message["sleep"]`` seconds (default ``seconds``, at most ``cap``);
    ``fail`` raises."""

    def __init__(self, *, queue: str, seconds: float = 0.05, cap: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(queue=queue, **kwargs)
        self.seconds = seconds
        self.cap = cap

    async def process_message(self, *, chat_context: Any, room: Any, message: Any,
                              toolkits: Any) -> Any:
        seconds = float(message.get("sleep", self.seconds))
        await asyncio.sleep(seconds if self.cap is None else min(seconds, self.cap))
        if message.get("fail"):
            raise RuntimeError(f"job {message.get('n')} was asked to fail")
        return {"n": message.get("n"), "pid": os.getpid()}


class BrokenWorker(Worker):
    """Its constructor raises: the pool must refuse to start and leave nothing behind."""

    def __init__(self, *, queue: str, **kwargs: Any) -> None:
        raise RuntimeError("BrokenWorker cannot be built")


class NotAWorker:
    """A class that is not a Worker."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class SlowStartWorker(SleepWorker):
    """Takes ``start_delay`` seconds to start (a replica that imports or connects slowly)."""

    def __init__(self, *, queue: str, start_delay: float = 3.0, **kwargs: Any) -> None:
        super().__init__(queue=queue, **kwargs)
        self.start_delay = start_delay

    async def start(self, room: Any = None) -> None:
        await asyncio.sleep(self.start_delay)
        await super().start(room)
