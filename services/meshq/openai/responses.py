"""The Responses API tool loop: ``OpenAIResponsesAdapter``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from meshq.agents.chat import ChatContext
from meshq.agents.llm import (
    ToolResponseAdapter,
    TurnLimitExceeded,
    function_tools,
    hosted_tools,
    invoke_tool,
    result_text,
)
from meshq.agents.observer import WorkerObserver
from meshq.openai.common import OpenAIAdapterBase, pick_model, run_all
from meshq.tools import Tool, Toolkit

logger = logging.getLogger(__name__)


class OpenAIResponsesToolResponseAdapter(ToolResponseAdapter):
    """A tool result becomes a ``function_call_output`` input item."""

    async def to_plain_text(self, *, room: Any, response: Any) -> str:
        return result_text(response)

    async def create_messages(self, *, call_id: str, room: Any, response: Any) -> list[dict]:
        """The input items that answer one function call."""
        output = await self.to_plain_text(room=room, response=response)
        return [{"type": "function_call_output", "call_id": call_id, "output": output}]


class OpenAIResponsesAdapter(OpenAIAdapterBase):
    """Runs a job through the Responses API with the worker's toolkits as tools.

    Function tools come from the toolkits' ``Tool``s (their JSON schemas), hosted tools (e.g.
    ``web_search``) from their ``spec``. The tool calls of one model turn run concurrently;
    their outputs go back as ``function_call_output`` items; after ``max_turns`` turns without
    a final answer the job fails. The model is the message's ``"model"``, else ``model``,
    else ``$OPENAI_MODEL``, else gpt-4.1-mini. Token usage is summed in ``input_tokens`` /
    ``output_tokens`` and reported to the worker's observer per call.
    """

    api = "responses"
    endpoint = "/responses"

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
        model = pick_model(model, context.metadata.get("model"), self.model)
        tools = function_tools(toolkits)
        specs = [_function_spec(tool) for tool in tools]
        specs += [dict(hosted.spec) for hosted in hosted_tools(toolkits)]
        items: list[Any] = [dict(message) for message in context.messages]
        responder = _responder(tool_adapter)
        caller = str(context.metadata.get("caller", ""))
        message_id = str(context.metadata.get("message_id", ""))
        for _turn in range(self.max_turns):
            response = await self._create(model, context.instructions, items, specs)
            self.count_tokens(observer, model, response.usage, "input_tokens", "output_tokens")
            calls = [item for item in response.output if item.type == "function_call"]
            if not calls:
                text = response.output_text
                context.append_assistant_message(text)
                return text
            items += [item.model_dump(mode="json", exclude_none=True) for item in response.output]
            outputs = await run_all([
                self._answer(call, tools, room, caller, message_id, responder) for call in calls
            ])
            items += [item for answer in outputs for item in answer]
        raise TurnLimitExceeded(f"no final answer after {self.max_turns} model turns")

    async def _create(self, model: str, instructions: str, items: list[Any],
                      specs: list[dict]) -> Any:
        kwargs: dict[str, Any] = {"model": model, "input": items}
        if instructions:
            kwargs["instructions"] = instructions
        if specs:
            kwargs["tools"] = specs
        return await self.call_model(model, self.client.responses.create(**kwargs))

    async def _answer(self, call: Any, tools: list[Tool], room: Any, caller: str, message_id: str,
                      responder: OpenAIResponsesToolResponseAdapter) -> list[dict]:
        result = await invoke_tool(tools=tools, name=call.name, arguments=call.arguments,
                                   room=room, caller=caller,
                                   message_id=message_id)
        return await responder.create_messages(call_id=call.call_id, room=room, response=result)


def _responder(adapter: ToolResponseAdapter | None) -> OpenAIResponsesToolResponseAdapter:
    """The given tool adapter, made to produce ``function_call_output`` items if it cannot."""
    if isinstance(adapter, OpenAIResponsesToolResponseAdapter):
        return adapter
    if adapter is None:
        return OpenAIResponsesToolResponseAdapter()
    return _TextResponder(adapter)


class _TextResponder(OpenAIResponsesToolResponseAdapter):
    def __init__(self, adapter: ToolResponseAdapter) -> None:
        self._adapter = adapter

    async def to_plain_text(self, *, room: Any, response: Any) -> str:
        return await self._adapter.to_plain_text(room=room, response=response)


def _function_spec(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description or "",
        "parameters": tool.input_schema,
        "strict": False,
    }
