"""A model that answers 429 with Retry-After: the Worker nacks with that delay instead of its
own backoff (the real openai SDK's RateLimitError, the real server)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import openai
import pytest
from fake_openai.server import FakeOpenAI, Reply

from agents.conftest import eventually
from agents.test_worker_delivery import FAST_RETRY
from meshq.agents.retry import retry_after_seconds
from meshq.agents.worker import Worker
from meshq.api.rooms import RoomClient
from meshq.openai.tools import OpenAIResponsesAdapter

NOW = 1_700_000_000.0


def rate_limited(headers: dict[str, str]) -> openai.RateLimitError:
    request = httpx2.Request("POST", "http://model/v1/responses")
    response = httpx2.Response(429, headers=headers, request=request)
    return openai.RateLimitError("slow down", response=response, body=None)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after": "Tue, 14 Nov 2023 22:13:27 GMT"}, 7.0),  # an HTTP date, NOW + 7 s
    ({"retry-after": "99999999999"}, 14 * 24 * 3600.0),  # capped at the longest nack delay
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_the_delay_comes_from_retry_after(headers: dict[str, str], expected: float | None
                                          ) -> None:
    assert retry_after_seconds(rate_limited(headers), now=NOW) == expected


def test_a_wrapped_429_is_found_and_other_errors_are_not() -> None:
    try:
        try:
            raise rate_limited({"retry-after": "3"})
        except openai.RateLimitError as inner:
            raise RuntimeError("model turn failed") from inner
    except RuntimeError as outer:
        assert retry_after_seconds(outer) == 3.0
    assert retry_after_seconds(ValueError("no")) is None


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


async def test_the_worker_nacks_a_rate_limited_job_with_the_retry_after_delay(
        fake: FakeOpenAI, room: RoomClient, unique: str) -> None:
    # Given a model that answers 429 with Retry-After 600, and a worker whose own backoff
    # would retry within 50 ms (and dead-letter on the 2nd failure)
    fake.handler = lambda path, body: Reply(
        {"error": {"message": "rate limited", "type": "rate_limit", "code": None}}, 429,
        headers={"retry-after": "600"})
    await room.queues.open(unique, max_deliveries=2)
    adapter = OpenAIResponsesAdapter(base_url=fake.base_url, api_key="test", max_retries=0)
    worker = Worker(queue=unique, llm_adapter=adapter, retry=FAST_RETRY)
    async with worker.serving(room):
        message_id = await room.queues.send(unique, {"instructions": "anything"})
        await eventually(lambda: _failed_once(worker), what="one failed attempt")
        # Then the job waits out the model's delay: delayed, not redelivered, not dead
        state = await room.queues.message_state(unique, message_id)
        assert (state.state, state.attempt) == ("delayed", 1)
    assert worker.stats.failed == 1 and "RateLimitError" in worker.stats.last_error


async def _failed_once(worker: Worker) -> bool:
    return worker.stats.failed >= 1
