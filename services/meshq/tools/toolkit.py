"""What a tool is: a name, a description, a JSON-schema input and an async ``execute``.

The LLM adapters turn each ``Tool`` of a worker's toolkits into a function tool for the
model, check the model's arguments with ``validate_arguments`` before running it, and feed the
result (JSON-serialisable or text) back. A ``HostedTool`` is one the model provider runs itself
(the Responses API's ``{"type": "web_search"}``): the adapter passes its ``spec`` through.

``ToolError`` (raised by ``execute``) means the call was understood but could not be done, for
a reason the model can act on: a missing file, a bad regex. Its message is written for the
model to read.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300  # a schema error quotes the bad value: keep it short


class ToolError(Exception):
    """A tool could not do what was asked."""


class ToolNotFound(ToolError):
    """No tool or toolkit by that name."""


class InvalidToolArguments(ToolError):
    """The arguments do not match the tool's input schema."""


@dataclass
class ToolContext:
    """What a running tool can reach."""

    room: Any
    """The SDK's RoomClient for the job's room (``.storage``, ``.room_name``, ``.queues``)."""
    message_id: str = ""
    """The queue message being processed, if any."""
    caller: str = ""
    """Who called: the worker's name."""


class Tool(ABC):
    """A function the model can call; subclasses set the three attributes and ``execute``."""

    name: str
    description: str
    input_schema: dict[str, Any]
    """A JSON schema of type "object" for the keyword arguments of ``execute``."""

    @abstractmethod
    async def execute(self, context: ToolContext, *args: Any, **arguments: Any) -> Any:
        """Run the call with the validated arguments as keywords; a JSON value or text.

        (``*args`` only lets subclasses declare their own keyword parameters under mypy; the
        adapters always pass keywords.)
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class HostedTool:
    """A tool the model provider runs itself, passed to it as ``spec``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec.get("type"), str):
            raise ValueError("a hosted tool's spec needs a string 'type'")
        self.spec = dict(spec)

    @property
    def name(self) -> str:
        return str(self.spec["type"])

    def __repr__(self) -> str:
        return f"HostedTool({self.spec!r})"


class Toolkit:
    """A named group of tools."""

    def __init__(
        self,
        *,
        name: str,
        tools: Sequence[Tool | HostedTool],
        description: str = "",
        title: str = "",
    ) -> None:
        names = [tool.name for tool in tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"toolkit {name!r} has duplicate tool names: {duplicates}")
        self.name = name
        self.title = title or name
        self.description = description
        self.tools: list[Tool | HostedTool] = list(tools)

    def get(self, name: str) -> Tool:
        """The function tool called ``name``, or ``ToolNotFound``."""
        for tool in self.tools:
            if isinstance(tool, Tool) and tool.name == name:
                return tool
        known = ", ".join(t.name for t in self.tools if isinstance(t, Tool)) or "none"
        raise ToolNotFound(f"toolkit {self.name!r} has no tool {name!r} (it has: {known})")

    def __repr__(self) -> str:
        return f"<Toolkit {self.name!r}: {[t.name for t in self.tools]}>"


def validate_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
    """Refuse ``arguments`` that do not match ``tool.input_schema``, saying what is wrong."""
    if not isinstance(arguments, dict):
        raise InvalidToolArguments(
            f"arguments for {tool.name!r} must be a JSON object, got {type(arguments).__name__}")
    validator_class = jsonschema.validators.validator_for(tool.input_schema)
    validator = validator_class(tool.input_schema)
    error = best_match(validator.iter_errors(arguments))
    if error is None:
        return
    where = "/".join(str(part) for part in error.absolute_path) or "(the arguments)"
    message = f"{where}: {error.message}"
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + "…"
    raise InvalidToolArguments(message)
