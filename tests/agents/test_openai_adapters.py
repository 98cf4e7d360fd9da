"""The OpenAI adapters drive the real openai SDK against the local fake server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_openai.server import (
    CHAT_PATH,
    RESPONSES_PATH,
    FakeOpenAI,
    Reply,
    chat_calls,
    chat_text,
    error,
    function_outputs,
    response_calls,
    response_text,
)

from agents.tools_for_tests import Echo, Refuse, Rendezvous, toolkit
from meshq.agents.chat import ChatContext
from meshq.agents.llm import BadToolArguments, TurnLimitExceeded, UnknownTool
from meshq.agents.observer import WorkerObserver
from meshq.openai.tools import OpenAIChatCompletionsAdapter, OpenAIResponsesAdapter
from meshq.tools import resolve_toolkit


class TokenLog(WorkerObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def llm_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        self.calls.append((model, input_tokens, output_tokens))


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def responses(fake: FakeOpenAI, **kwargs: Any) -> OpenAIResponsesAdapter:
    return OpenAIResponsesAdapter(base_url=fake.base_url, api_key="test", max_retries=0,
                                  **kwargs)


def job(text: str = "do it") -> ChatContext:
    context = ChatContext(rules=["you are a worker"])
    context.append_user_message(text)
    return context


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model(fake: FakeOpenAI) -> None:
    # Given a model that calls echo, then answers
    fake.script(response_calls(("echo", {"text": "hi"})), response_text("all done"))
    echo, tokens, context = Echo(), TokenLog(), job()
    adapter = responses(fake, model="adapter-model")
    # When the adapter runs the job
    answer = await adapter.next(context=context, room="ROOM", toolkits=[toolkit(echo)],
                                observer=tokens)
    # Then the tool ran with the room, its output went back, and usage was counted
    assert answer == "all done"
    assert context.last_assistant_message == "all done"
    assert echo.contexts[0].room == "ROOM"
    first, second = fake.bodies(RESPONSES_PATH)
    assert first["instructions"] == "you are a worker"
    assert first["tools"][0]["name"] == "echo"
    assert first["tools"][0]["parameters"] == Echo.input_schema
    assert json.loads(function_outputs(second)[0]["output"]) == {"echo": "hi"}
    assert any(item.get("type") == "function_call" for item in second["input"])
    assert tokens.calls == [("adapter-model", 10, 5), ("adapter-model", 10, 5)]
    assert (adapter.input_tokens, adapter.output_tokens) == (20, 10)


async def test_the_message_model_wins_over_the_adapter_model(fake: FakeOpenAI) -> None:
    fake.script(response_text("ok"))
    await responses(fake, model="adapter-model").next(context=job(), room=None, toolkits=[],
                                                      model="message-model")
    assert fake.bodies(RESPONSES_PATH)[0]["model"] == "message-model"
    assert "tools" not in fake.bodies(RESPONSES_PATH)[0]


async def test_the_calls_of_one_turn_run_concurrently(fake: FakeOpenAI) -> None:
    # Given three calls that can only return once all three are running at the same time
    fake.script(response_calls(*[("rendezvous", {"who": w}) for w in "abc"]),
                response_text("met"))
    meet = Rendezvous(parties=3, timeout=10.0)
    # When the adapter runs them, Then they meet (one at a time they would time out)
    assert await responses(fake).next(context=job(), room=None,
                                      toolkits=[toolkit(meet)]) == "met"
    outputs = function_outputs(fake.bodies(RESPONSES_PATH)[1])
    assert sorted(item["output"] for item in outputs) == ["met a", "met b", "met c"]


@pytest.mark.parametrize(("call", "error_type", "reason"), [
    (("nope", {}), UnknownTool, "unknown tool 'nope'"),
    (("echo", {"text": 3}), BadToolArguments, "text"),
    (("echo", "{not json"), BadToolArguments, "not JSON"),
    (("echo", {"text": "x", "extra": 1}), BadToolArguments, "extra"),
])
async def test_a_broken_tool_call_fails_the_job(fake: FakeOpenAI, call: tuple[str, Any],
                                                error_type: type, reason: str) -> None:
    fake.script(response_calls(call))
    with pytest.raises(error_type, match=reason):
        await responses(fake).next(context=job(), room=None, toolkits=[toolkit(Echo())])


async def test_a_tool_error_is_told_to_the_model(fake: FakeOpenAI) -> None:
    fake.script(response_calls(("refuse", {})), response_text("could not"))
    assert await responses(fake).next(context=job(), room=None,
                                      toolkits=[toolkit(Refuse())]) == "could not"
    output = function_outputs(fake.bodies(RESPONSES_PATH)[1])[0]["output"]
    assert output == "error: no such file: x.txt"


async def test_model_errors_and_timeouts_raise(fake: FakeOpenAI) -> None:
    fake.script(error(500, "model exploded"))
    with pytest.raises(openai.InternalServerError):
        await responses(fake).next(context=job(), room=None, toolkits=[])
    fake.script(Reply(response_text("late"), hang=2.0))
    with pytest.raises(openai.APITimeoutError):
        await responses(fake, timeout=0.3).next(context=job(), room=None, toolkits=[])


async def test_a_model_that_never_stops_calling_tools_hits_the_turn_limit(
        fake: FakeOpenAI) -> None:
    fake.handler = lambda path, body: response_calls(("echo", {"text": "again"}))
    with pytest.raises(TurnLimitExceeded, match="3 model turns"):
        await responses(fake, max_turns=3).next(context=job(), room=None,
                                                toolkits=[toolkit(Echo())])
    assert len(fake.bodies(RESPONSES_PATH)) == 3


async def test_hosted_web_search_is_passed_through(fake: FakeOpenAI) -> None:
    fake.script(response_text("searched"))
    await responses(fake).next(context=job(), room=None,
                               toolkits=[resolve_toolkit("web_search"), toolkit(Echo())])
    tools = fake.bodies(RESPONSES_PATH)[0]["tools"]
    assert {"type": "web_search"} in tools
    assert any(tool.get("name") == "echo" for tool in tools)


async def test_chat_completions_runs_the_same_loop(fake: FakeOpenAI,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    # Given an OpenAI-compatible server that calls echo twice in one turn, then answers
    fake.script(chat_calls(("echo", {"text": "a"}), ("echo", {"text": "b"})), chat_text("fin"))
    tokens = TokenLog()
    adapter = OpenAIChatCompletionsAdapter(base_url=fake.base_url, model="local", max_retries=0)
    context = job("go")
    with caplog.at_level(logging.WARNING):
        answer = await adapter.next(context=context, room=None, observer=tokens,
                                    toolkits=[toolkit(Echo()), resolve_toolkit("web_search")])
    # Then the results went back as tool messages, and the hosted tool was skipped, loudly
    assert answer == "fin"
    first, second = fake.bodies(CHAT_PATH)
    assert first["messages"][0] == {"role": "system", "content": "you are a worker"}
    assert [tool["function"]["name"] for tool in first["tools"]] == ["echo"]
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [json.loads(m["content"]) for m in tool_messages] == [{"echo": "a"}, {"echo": "b"}]
    assert "web_search" in caplog.text
    assert tokens.calls == [("local", 7, 3), ("local", 7, 3)]


async def test_chat_completions_refuses_an_unknown_tool(fake: FakeOpenAI) -> None:
    fake.script(chat_calls(("missing", {})))
    adapter = OpenAIChatCompletionsAdapter(base_url=fake.base_url, model="local", max_retries=0)
    with pytest.raises(UnknownTool):
        await adapter.next(context=job(), room=None, toolkits=[toolkit(Echo())])
