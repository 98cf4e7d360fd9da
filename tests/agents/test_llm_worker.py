"""LLM workers end to end: real server, real openai SDK, scripted model, real room storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai.server import (
    RESPONSES_PATH,
    FakeOpenAI,
    error,
    function_outputs,
    response_calls,
    response_text,
)

from agents.conftest import eventually
from agents.test_worker_delivery import FAST_RETRY, _has_messages
from meshq.agents.queue_agent import build_queue_agent
from meshq.agents.requirements import RequiredToolkit
from meshq.agents.worker import Worker
from meshq.api.rooms import RoomClient
from meshq.openai.tools import OpenAIResponsesAdapter, OpenAIResponsesToolResponseAdapter
from meshq.tools.storage import StorageToolkit

POEM = "Silicon dreams in quiet rows,\nthe queue hums on as the model knows."


def poem_writer(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A model that saves a poem where the instructions say, then reports."""
    if function_outputs(body):
        return response_text("saved the poem")
    job = json.loads(body["input"][0]["content"])
    target = job["instructions"].rsplit(" to ", 1)[1]
    return response_calls(("write_file", {"path": target, "text": POEM}))


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def adapter(fake: FakeOpenAI) -> OpenAIResponsesAdapter:
    return OpenAIResponsesAdapter(base_url=fake.base_url, api_key="test", max_retries=0)


async def test_a_model_that_calls_write_file_leaves_the_file_in_room_storage(
        fake: FakeOpenAI, room: RoomClient, unique: str) -> None:
    # Given the reference's StorageWorker set-up against a scripted model
    fake.handler = poem_writer
    worker = Worker(queue=unique, llm_adapter=adapter(fake),
                    tool_adapter=OpenAIResponsesToolResponseAdapter(),
                    toolkits=[StorageToolkit()], rules=["do what the message says"])
    # When the reference's job is sent
    async with worker.serving(room):
        await room.queues.send(unique, {"instructions": "save a poem about ai to poem.txt"})
        await eventually(lambda: worker.stats.done == 1, what="the job")
    # Then poem.txt is in the room's storage, and the model saw the tool's result
    assert (await room.storage.read("poem.txt")).decode() == POEM
    first = fake.bodies(RESPONSES_PATH)[0]
    assert first["instructions"] == "do what the message says"
    assert {t["name"] for t in first["tools"]} >= {"write_file", "read_file", "list_files"}


async def test_required_toolkits_and_the_message_model(fake: FakeOpenAI, room: RoomClient,
                                                       unique: str) -> None:
    fake.handler = poem_writer
    worker = build_queue_agent(agent_name="agent", queue=unique, require_storage=True,
                               require_web_search=True, llm_adapter=adapter(fake))
    async with worker.serving(room):
        await room.queues.send(unique, {"instructions": "save it to a/b.txt", "model": "m-9"})
        await eventually(lambda: worker.stats.done == 1, what="the job")
    assert (await room.storage.read("a/b.txt")).decode() == POEM
    first = fake.bodies(RESPONSES_PATH)[0]
    assert first["model"] == "m-9"
    assert {"type": "web_search"} in first["tools"]


@pytest.mark.parametrize(("reply", "reason"), [
    (response_calls(("launch_rockets", {})), "UnknownTool: the model called unknown tool "
                                             "'launch_rockets'"),
    (response_calls(("write_file", {"path": 5})), "BadToolArguments: tool 'write_file'"),
    (error(500, "model exploded"), "InternalServerError"),
])
async def test_a_broken_model_turn_is_nacked_then_dead_lettered_with_the_reason(
        fake: FakeOpenAI, room: RoomClient, unique: str, reply: Any, reason: str) -> None:
    # Given a model that answers every job the same broken way, and 2 deliveries allowed
    fake.handler = lambda path, body: reply
    await room.queues.open(unique, max_deliveries=2)
    worker = Worker(queue=unique, llm_adapter=adapter(fake), retry=FAST_RETRY,
                    requires=[RequiredToolkit("storage")])
    # When a job arrives
    async with worker.serving(room):
        await room.queues.send(unique, {"instructions": "anything"})
        await eventually(lambda: _has_messages(room, unique + ".dlq"), what="a dead letter")
    # Then it was tried twice and dead-lettered with the reason
    [dead] = await room.queues.peek(unique + ".dlq")
    assert reason in dead.headers["x-meshq-last-error"]
    assert worker.stats.failed == 2 and worker.stats.done == 0
