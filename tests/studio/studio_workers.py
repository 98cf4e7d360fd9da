"""A Worker the Studio's pools page shows (the session server runs pools on asyncio)."""

from __future__ import annotations

from typing import Any

from meshq.agents.worker import Worker


class EchoWorker(Worker):
    """Returns each job's message."""

    async def process_message(self, *, chat_context: Any, room: Any, message: Any,
                              toolkits: Any) -> Any:
        return message
