"""The reference's hooks, their defaults, and what a Worker refuses at construction."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshq.agents.chat import ChatContext
from meshq.agents.requirements import (
    RequiredSchema,
    RequiredToolkit,
    RequirementError,
    resolve_requirements,
)
from meshq.agents.worker import Worker


class PlainWorker(Worker):
    async def process_message(self, *, chat_context: ChatContext, room: Any, message: Any,
                              toolkits: Any) -> Any:
        return message


@pytest.mark.parametrize(("payload", "decoded"), [
    ({"instructions": "x"}, {"instructions": "x"}),
    ("write a poem", {"prompt": "write a poem"}),
    ('{"a": 1}', {"a": 1}),
    ("[1, 2]", {"prompt": "[1, 2]"}),
    ([1, 2], {"prompt": [1, 2]}),
    (42, {"prompt": 42}),
    (None, {"prompt": None}),
])
def test_decode_message_wraps_anything_but_an_object(payload: Any, decoded: Any) -> None:
    assert PlainWorker(queue="q").decode_message(payload) == decoded


async def test_default_context_is_the_message_as_json_in_a_user_message() -> None:
    worker = PlainWorker(queue="q", rules=["be brief"])
    context = worker.init_chat_context()
    context.append_rules(worker.rules)
    await worker.append_message_context(room=None, message={"instructions": "é"},
                                        chat_context=context)
    assert context.instructions == "be brief"
    assert context.messages == [{"role": "user", "content": json.dumps({"instructions": "é"},
                                                                       ensure_ascii=False)}]


def test_a_worker_needs_a_queue_and_a_way_to_do_work() -> None:
    with pytest.raises(ValueError, match="queue"):
        PlainWorker(queue=None)
    with pytest.raises(ValueError, match="llm_adapter"):
        Worker(queue="q")
    with pytest.raises(ValueError, match="concurrency"):
        PlainWorker(queue="q", concurrency=0)
    assert PlainWorker(queue="q").name == "worker-q"


def test_requirements_resolve_builtin_toolkits_and_refuse_unknown_ones() -> None:
    kits = resolve_requirements([RequiredToolkit("storage"), RequiredToolkit("web_search")])
    assert [kit.name for kit in kits] == ["storage", "web_search"]
    with pytest.raises(RequirementError, match="nope"):
        resolve_requirements([RequiredToolkit("nope")])
    with pytest.raises(RequirementError, match="schema"):
        resolve_requirements([RequiredSchema("doc")])


async def test_an_unknown_toolkit_fails_start_not_later() -> None:
    worker = PlainWorker(queue="q", requires=[RequiredToolkit("does-not-exist")])
    with pytest.raises(RequirementError):
        await worker.start(object())
    await worker.stop()  # never started: returns at once


def test_chat_context_tracks_the_last_answer() -> None:
    context = ChatContext()
    context.append_user_message({"a": 1})
    context.append_assistant_message("done")
    copy = context.copy()
    copy.append_assistant_message("later")
    assert context.last_assistant_message == "done"
    assert copy.last_assistant_message == "later"


async def test_a_missing_api_key_fails_start_not_every_job(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    from meshq.openai.tools import OpenAIResponsesAdapter

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    worker = Worker(queue="q", llm_adapter=OpenAIResponsesAdapter())
    with pytest.raises(openai.OpenAIError):
        await worker.start(object())
