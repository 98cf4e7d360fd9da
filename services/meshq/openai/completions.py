"""The Chat Completions tool loop, for OpenAI-compatible servers: ``OpenAIChatCompletionsAdapter``."""

from __future__ import annotations

import functools
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


class OpenAIChatCompletionsAdapter(OpenAIAdapterBase):
    """Runs a job through ``/v1/chat/completions`` (vLLM, Ollama, llama.cpp, OpenAI).

    Same loop as the Responses adapter: function tools from the toolkits, the calls of one
    turn run concurrently, results fed back as ``tool`` messages, a turn limit. Hosted tools
    (``web_search``) have no Chat Completions form: they are skipped with a warning.
    """

    api = "chat"
    endpoint = "/chat/completions"

    @functools.cached_property
    def _warned_hosted(self) -> set[str]:
        """Hosted tool kinds already warned about (once per adapter)."""
        return set()

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
        self._warn_hosted(toolkits)
        messages: list[Any] = []
        if context.instructions:
            messages.append({"role": "system", "content": context.instructions})
        messages += [dict(message) for message in context.messages]
        caller = str(context.metadata.get("caller", ""))
        message_id = str(context.metadata.get("message_id", ""))
        for _turn in range(self.max_turns):
            completion = await self._create(model, messages, tools)
            self.count_tokens(observer, model, completion.usage, "prompt_tokens",
                              "completion_tokens")
            reply = completion.choices[0].message
            if not reply.tool_calls:
                text = reply.content or ""
                context.append_assistant_message(text)
                return text
            messages.append(reply.model_dump(mode="json", exclude_none=True))
            messages += await run_all([
                self._answer(call, tools, room, caller, message_id, tool_adapter)
                for call in reply.tool_calls
            ])
        raise TurnLimitExceeded(f"no final answer after {self.max_turns} model turns")

    async def _create(self, model: str, messages: list[Any], tools: list[Tool]) -> Any:
        kwargs: dict[str, Any] = {"model": model, "messages": messages}
        if tools:
            kwargs["tools"] = [_function_spec(tool) for tool in tools]
        return await self.call_model(model, self.client.chat.completions.create(**kwargs))

    async def _answer(self, call: Any, tools: list[Tool], room: Any, caller: str, message_id: str,
                      tool_adapter: ToolResponseAdapter | None) -> dict[str, Any]:
        result = await invoke_tool(tools=tools, name=call.function.name,
                                   arguments=call.function.arguments, room=room, caller=caller,
                                   message_id=message_id)
        if tool_adapter is not None:
            text = await tool_adapter.to_plain_text(room=room, response=result)
        else:
            text = result_text(result)
        return {"role": "tool", "tool_call_id": call.id, "content": text}

    def _warn_hosted(self, toolkits: Sequence[Toolkit]) -> None:
        for hosted in hosted_tools(toolkits):
            kind = str(hosted.spec.get("type", hosted))
            if kind not in self._warned_hosted:
                self._warned_hosted.add(kind)
                logger.warning("hosted tool %s has no Chat Completions form; skipped", kind)


def _function_spec(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description or "",
            "parameters": tool.input_schema,
        },
    }
