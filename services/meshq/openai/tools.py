"""The reference's import path for the OpenAI adapters (``meshagent.openai.tools``), and
``openai_adapter(api)``, which picks one by the API the LLM server speaks."""

from __future__ import annotations

from typing import Any

from meshq.openai.common import OpenAIAdapterBase
from meshq.openai.completions import OpenAIChatCompletionsAdapter
from meshq.openai.responses import OpenAIResponsesAdapter, OpenAIResponsesToolResponseAdapter

LLM_APIS = ("responses", "chat")

__all__ = [
    "LLM_APIS",
    "OpenAIChatCompletionsAdapter",
    "OpenAIResponsesAdapter",
    "OpenAIResponsesToolResponseAdapter",
    "openai_adapter",
]


def openai_adapter(api: str = "responses", **kwargs: Any) -> OpenAIAdapterBase:
    """``OpenAIResponsesAdapter`` for "responses", ``OpenAIChatCompletionsAdapter`` for "chat"
    (vLLM, Ollama, llama.cpp: servers without /v1/responses). ``kwargs`` go to the adapter."""
    if api == "chat":
        return OpenAIChatCompletionsAdapter(**kwargs)
    if api in ("responses", ""):
        return OpenAIResponsesAdapter(**kwargs)
    raise ValueError(f"llm api {api!r} is unknown; use one of {', '.join(LLM_APIS)}")
