"""The fake OpenAI server answers the real SDK in both API shapes."""

from __future__ import annotations

import openai
import pytest
from openai import AsyncOpenAI

from fake_openai.server import (
    CHAT_PATH,
    RESPONSES_PATH,
    FakeOpenAI,
    chat_calls,
    chat_text,
    error,
    response_calls,
    response_text,
)


async def test_responses_shapes_parse_in_the_sdk() -> None:
    with FakeOpenAI() as fake:
        client = AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        fake.script(response_calls(("write_file", {"path": "a.txt"})), response_text("done"))
        first = await client.responses.create(model="m", input="hi")
        second = await client.responses.create(model="m", input="again")
        assert first.output[0].type == "function_call"
        assert first.output[0].name == "write_file"
        assert second.output_text == "done"
        assert second.usage is not None and second.usage.input_tokens == 10
        assert [p for p, _ in fake.requests] == [RESPONSES_PATH, RESPONSES_PATH]


async def test_chat_shapes_and_errors_parse_in_the_sdk() -> None:
    with FakeOpenAI() as fake:
        client = AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        fake.script(chat_calls(("grep", "{}")), chat_text("ok"), error(500, "boom"))
        calls = await client.chat.completions.create(model="m", messages=[])
        assert calls.choices[0].message.tool_calls[0].function.name == "grep"
        text = await client.chat.completions.create(model="m", messages=[])
        assert text.choices[0].message.content == "ok"
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=[])
        assert fake.bodies(CHAT_PATH)[0]["model"] == "m"
