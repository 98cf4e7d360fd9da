"""Agents for LLM servers that speak only Chat Completions (vLLM, Ollama, llama.cpp).

The real openai SDK against ``FakeOpenAI(chat_only=True)``, which answers /v1/responses with
404 as those servers do; a real server for the queue; ``process join`` as a real process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai.server import CHAT_PATH, RESPONSES_PATH, FakeOpenAI, chat_text

from agents.conftest import eventually
from agents.test_worker_delivery import FAST_RETRY, _has_messages
from meshq.agents.llm import LLMConfigurationError
from meshq.agents.queue_agent import build_queue_agent
from meshq.api.rooms import RoomClient
from meshq.openai.tools import OpenAIChatCompletionsAdapter, openai_adapter


@pytest.fixture
def chat_only() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(chat_only=True) as server:
        server.handler = lambda path, body: chat_text("done")
        yield server


async def test_an_agent_with_llm_api_chat_works_against_a_chat_only_server(
        chat_only: FakeOpenAI, room: RoomClient, unique: str) -> None:
    # Given a no-code agent built for Chat Completions (the Worker API's llm_api)
    adapter = openai_adapter("chat", base_url=chat_only.base_url, api_key="x", max_retries=0)
    assert isinstance(adapter, OpenAIChatCompletionsAdapter)
    worker = build_queue_agent(agent_name="a", queue=unique, llm_adapter=adapter,
                               llm_api="chat")
    # When a job arrives, it is done through /chat/completions alone
    async with worker.serving(room):
        await room.queues.send(unique, {"instructions": "say done"})
        await eventually(lambda: worker.stats.done == 1, what="the job done")
    assert chat_only.bodies(RESPONSES_PATH) == [] and len(chat_only.bodies(CHAT_PATH)) == 1


async def test_a_404_from_the_responses_endpoint_is_one_clear_error_without_tracebacks(
        chat_only: FakeOpenAI, room: RoomClient, unique: str,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a Responses agent pointed at a chat-only server, and 3 deliveries allowed
    await room.queues.open(unique, max_deliveries=3)
    adapter = openai_adapter("responses", base_url=chat_only.base_url, api_key="x",
                             max_retries=0)
    worker = build_queue_agent(agent_name="a", queue=unique, llm_adapter=adapter)
    worker.retry = FAST_RETRY
    caplog.set_level(logging.WARNING)
    # When a job arrives and is tried until dead-lettered
    async with worker.serving(room):
        await room.queues.send(unique, {"instructions": "anything"})
        await eventually(lambda: _has_messages(room, unique + ".dlq"), what="a dead letter")
    # Then the reason says what to do, the ERROR line appears once, and no traceback at all
    [dead] = await room.queues.peek(unique + ".dlq")
    reason = dead.headers["x-meshq-last-error"]
    assert reason.startswith(LLMConfigurationError.__name__)
    assert "answered 404 to /responses" in reason and "--llm-api chat" in reason
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "404" in r.getMessage()]
    assert len(errors) == 1
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text


async def test_process_join_with_llm_api_chat_serves_a_chat_only_server(
        chat_only: FakeOpenAI, server: Any, room: RoomClient, unique: str) -> None:
    env = {**os.environ, "OPENAI_BASE_URL": chat_only.base_url, "OPENAI_API_KEY": "x",
           "MESHQ_TOKEN": server.token, "PYTHONUNBUFFERED": "1"}
    # Given `meshq process join --llm-api chat`
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshq.cli.main", "process", "join", "--room", unique,
         "--agent-name", "chatty", "--channel", "queue:jobs", "--llm-api", "chat",
         "--server", server.address],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # When a job is sent
        await room.queues.send("jobs", {"instructions": "say done"})

        # Then the agent answers it through Chat Completions alone and acks it
        def acked() -> bool:
            info = server.engine.registry.queue_info(unique, "jobs")
            return len(chat_only.bodies(CHAT_PATH)) == 1 and info.in_flight == info.depth == 0

        await eventually(acked, timeout=30, what="the job answered and acked")
        assert chat_only.bodies(RESPONSES_PATH) == []
    finally:
        proc.send_signal(signal.SIGINT)  # the server lives on this loop: wait off it
        output, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    assert "Traceback" not in output, output
