"""Small real tools for adapter and worker tests."""

from __future__ import annotations

import asyncio
from typing import Any

from meshq.tools import Tool, ToolContext, ToolError, Toolkit


class Echo(Tool):
    name = "echo"
    description = "Repeat the text."
    input_schema = {"type": "object", "properties": {"text": {"type": "string"}},
                    "required": ["text"], "additionalProperties": False}

    def __init__(self) -> None:
        self.contexts: list[ToolContext] = []

    async def execute(self, context: ToolContext, **arguments: Any) -> Any:
        self.contexts.append(context)
        return {"echo": arguments["text"]}


class Rendezvous(Tool):
    """Returns only once ``parties`` calls are inside it at the same time."""

    name = "rendezvous"
    description = "Meet the other calls."
    input_schema = {"type": "object", "properties": {"who": {"type": "string"}},
                    "required": ["who"]}

    def __init__(self, parties: int, timeout: float = 10.0) -> None:
        self.barrier = asyncio.Barrier(parties)
        self.timeout = timeout

    async def execute(self, context: ToolContext, **arguments: Any) -> Any:
        await asyncio.wait_for(self.barrier.wait(), self.timeout)
        return f"met {arguments['who']}"


class Refuse(Tool):
    name = "refuse"
    description = "Always refuses, as a tool does for a missing file."
    input_schema = {"type": "object", "properties": {}}

    async def execute(self, context: ToolContext, **arguments: Any) -> Any:
        raise ToolError("no such file: x.txt")


def toolkit(*tools: Tool) -> Toolkit:
    return Toolkit(name="test", tools=list(tools))
