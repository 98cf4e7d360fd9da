"""The reference's import path for the OpenAI adapters (``meshagent.openai.tools``)."""

from meshq.openai.completions import OpenAIChatCompletionsAdapter
from meshq.openai.responses import OpenAIResponsesAdapter, OpenAIResponsesToolResponseAdapter

__all__ = [
    "OpenAIChatCompletionsAdapter",
    "OpenAIResponsesAdapter",
    "OpenAIResponsesToolResponseAdapter",
]
