"""What an LLM adapter is, and the tool-calling steps every adapter shares.

An adapter's ``next`` runs one job's conversation to its end: it sends the chat context and
the toolkits' tools to a model, runs the tools the model calls, feeds the results back, and
returns the final answer. A tool call the worker cannot honour (an unknown tool, arguments
that are not JSON or do not match the tool's schema) raises ``ToolCallError``: the job fails
and is nacked with that reason, rather than the model improvising around a broken call.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from meshq.agents.chat import ChatContext
from meshq.agents.observer import WorkerObserver, call_hook
from meshq.tools import (
    HostedTool,
    InvalidToolArguments,
    Tool,
    ToolContext,
    ToolError,
    Toolkit,
    validate_arguments,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_TURNS = 16  # model round trips per job before it is failed as runaway


class LLMError(Exception):
    """The model conversation failed."""


class LLMConfigurationError(LLMError):
    """The LLM server cannot serve this worker as configured (an API it does not speak, a
    model it does not have): every retry fails alike, so it is logged as one line, without a
    traceback."""

    log_traceback = False


class TurnLimitExceeded(LLMError):
    """The model kept calling tools past the turn limit."""


class ToolCallError(LLMError):
    """The model asked for a tool call that cannot be run."""


class UnknownTool(ToolCallError):
    """The model called a tool that no toolkit of this worker has."""


class BadToolArguments(ToolCallError):
    """The model's tool arguments are not a JSON object matching the tool's schema."""


class ToolResponseAdapter(ABC):
    """Turns a tool's result into what the model reads."""

    @abstractmethod
    async def to_plain_text(self, *, room: Any, response: Any) -> str:
        """The result as text for the model."""


class LLMAdapter(ABC):
    """Runs one job's conversation with a model (see the module docstring)."""

    async def start(self) -> None:
        """Check the configuration when the worker starts (e.g. an API key); raise if unusable."""
        return None

    @abstractmethod
    async def next(
        self,
        *,
        context: ChatContext,
        room: Any,
        toolkits: Sequence[Toolkit],
        tool_adapter: ToolResponseAdapter | None = None,
        model: str | None = None,
        observer: WorkerObserver | None = None,
    ) -> Any:
        """Run the conversation to its final answer and return it."""


def function_tools(toolkits: Sequence[Toolkit]) -> list[Tool]:
    """The callable tools of ``toolkits``, first name wins."""
    seen: dict[str, Tool] = {}
    for toolkit in toolkits:
        for tool in toolkit.tools:
            if isinstance(tool, Tool) and tool.name not in seen:
                seen[tool.name] = tool
    return list(seen.values())


def hosted_tools(toolkits: Sequence[Toolkit]) -> list[HostedTool]:
    """The provider-hosted tools of ``toolkits`` (e.g. ``{"type": "web_search"}``)."""
    return [tool for toolkit in toolkits for tool in toolkit.tools if isinstance(tool, HostedTool)]


def parse_arguments(name: str, text: str) -> dict[str, Any]:
    """The model's argument text as a dict, or ``BadToolArguments``."""
    try:
        arguments = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        raise BadToolArguments(f"tool {name!r}: arguments are not JSON ({err.msg})") from None
    if not isinstance(arguments, dict):
        raise BadToolArguments(f"tool {name!r}: arguments must be a JSON object")
    return arguments


async def invoke_tool(
    *, tools: Sequence[Tool], name: str, arguments: str, room: Any, caller: str = "",
    message_id: str = "",
) -> Any:
    """Find, validate and run one tool call; its result, or ``ToolCallError``.

    A ``ToolError`` raised by the tool itself (a missing file, a bad pattern) is not a broken
    call: its message goes back to the model as the result, so the model can adjust.
    """
    tool = next((t for t in tools if t.name == name), None)
    if tool is None:
        known = ", ".join(sorted(t.name for t in tools)) or "none"
        raise UnknownTool(f"the model called unknown tool {name!r} (known: {known})")
    parsed = parse_arguments(name, arguments)
    try:
        validate_arguments(tool, parsed)
    except InvalidToolArguments as err:
        raise BadToolArguments(f"tool {name!r}: {err}") from None
    logger.debug("running tool %s", name, extra={"tool": name})
    try:
        return await tool.execute(ToolContext(room=room, caller=caller, message_id=message_id),
                                  **parsed)
    except ToolError as err:
        logger.info("tool %s refused: %s", name, err, extra={"tool": name})
        return f"error: {err}"


def result_text(response: Any) -> str:
    """A tool result as text: strings as they are, bytes decoded, the rest as JSON."""
    if response is None:
        return "ok"
    if isinstance(response, str):
        return response
    if isinstance(response, bytes):
        return response.decode("utf-8", errors="replace")
    try:
        return json.dumps(response, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(response)


def report_tokens(observer: WorkerObserver | None, model: str, usage: Any,
                  input_name: str, output_name: str) -> tuple[int, int]:
    """Read token counts off a usage object and tell the observer; (input, output)."""
    if usage is None:
        return 0, 0
    used_in = int(getattr(usage, input_name, 0) or 0)
    used_out = int(getattr(usage, output_name, 0) or 0)
    if observer is not None:
        call_hook(observer.llm_tokens, model, used_in, used_out)
    return used_in, used_out
