"""What the Responses and Chat Completions adapters share: the client, models, concurrency."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import openai
from meshq.agents.llm import DEFAULT_MAX_TURNS, LLMAdapter, LLMConfigurationError, report_tokens
from meshq.agents.observer import WorkerObserver
from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4.1-mini"  # when neither the message, the adapter nor $OPENAI_MODEL names one
DEFAULT_TIMEOUT = 120.0  # seconds per model call; a slower call fails the job (it is retried)
DEFAULT_MAX_RETRIES = 2  # the SDK's own retries of 429 / 5xx / connection errors per call
LOCAL_API_KEY = "unused"  # local OpenAI-compatible servers (vLLM, Ollama) need no key

T = TypeVar("T")


def default_model() -> str:
    """``$OPENAI_MODEL`` or ``DEFAULT_MODEL`` (read when an adapter is made, never at import)."""
    return os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL


def make_client(*, base_url: str | None, api_key: str | None, timeout: float,
                max_retries: int) -> AsyncOpenAI:
    """An ``AsyncOpenAI``; a base URL without any key gets a placeholder key."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    if api_key is None and base_url is not None:
        api_key = LOCAL_API_KEY
    return AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                       max_retries=max_retries)


def pick_model(explicit: str | None, context_model: Any, adapter_model: str) -> str:
    """The message's model (passed or in the context's metadata) wins over the adapter's."""
    if explicit:
        return explicit
    if isinstance(context_model, str) and context_model:
        return context_model
    return adapter_model


class OpenAIAdapterBase(LLMAdapter):
    """The model, turn limit, token totals and lazily made client of both OpenAI adapters."""

    def __init__(
        self,
        *,
        model: str | None = None,
        client: AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.model = model or default_model()
        self.max_turns = max_turns
        self.input_tokens = 0
        self.output_tokens = 0
        self._client = client
        self._base_url = base_url
        self._api_key = api_key
        self._timeout = timeout
        self._max_retries = max_retries

    @property
    def client(self) -> AsyncOpenAI:
        """Made on first use, so constructing the adapter needs no key (the reference's shape)."""
        if self._client is None:
            self._client = make_client(base_url=self._base_url, api_key=self._api_key,
                                       timeout=self._timeout, max_retries=self._max_retries)
        return self._client

    async def start(self) -> None:
        """Make the client now: a missing API key fails the worker's start, not every job."""
        _ = self.client

    api = ""
    """The API this adapter speaks ("responses" or "chat"), for error messages."""
    endpoint = ""
    """Its path under the base URL."""

    async def call_model(self, model: str, call: Awaitable[T]) -> T:
        """Await one model call; a 404 becomes one clear ``LLMConfigurationError`` (logged once
        per adapter at ERROR), not a traceback per retry."""
        try:
            return await call
        except openai.NotFoundError as err:
            error = self._not_found(model, err)
        if not self._reported_not_found:
            self._reported_not_found = True
            logger.error("%s", error)
        raise error

    _reported_not_found = False

    def _not_found(self, model: str, err: openai.NotFoundError) -> LLMConfigurationError:
        base = str(self.client.base_url).rstrip("/")
        body = err.body if isinstance(err.body, dict) else {}
        code = str(body.get("code") or (body.get("error") or {}).get("code") or "")
        if code == "model_not_found":
            return LLMConfigurationError(f"the LLM server at {base} has no model {model!r} "
                                         f"(404 {code}); pick one it serves (--model)")
        other = "chat" if self.api == "responses" else "responses"
        return LLMConfigurationError(
            f"the LLM server at {base} answered 404 to {self.endpoint}: it does not speak the "
            f"{self.api} API (or has no model {model!r}); servers such as vLLM, Ollama and "
            f"llama.cpp speak only Chat Completions: use --llm-api {other} "
            f"(llm_api=\"{other}\" in the Worker API)")

    def count_tokens(self, observer: WorkerObserver | None, model: str, usage: Any,
                     input_name: str, output_name: str) -> None:
        """Add one call's usage to the totals and report it to the observer."""
        used_in, used_out = report_tokens(observer, model, usage, input_name, output_name)
        self.input_tokens += used_in
        self.output_tokens += used_out


async def run_all(calls: Sequence[Awaitable[T]]) -> list[T]:
    """Await ``calls`` concurrently; the first failure cancels the rest and is raised as is."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(call)) for call in calls]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(call: Awaitable[T]) -> T:
    return await call
