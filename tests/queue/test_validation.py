"""Bad input is refused with InvalidArgument before anything changes."""

from __future__ import annotations

import json
import math

import pytest
from conftest import Harness

from meshq.core.errors import InvalidArgument
from meshq.queue.model import ExtendItem, NackItem, NewMessage, QueueOptions
from meshq.queue.validate import encode_headers

R, Q = "room", "val"


@pytest.mark.parametrize("room,queue", [("", "q"), ("r", ""), ("-r", "q"), ("r", "q/x"),
                                        ("r" * 129, "q"), ("r", "q\x00"), ("r", "é")])
async def test_bad_names_are_refused(h: Harness, room: str, queue: str) -> None:
    assert h.engine is not None
    with pytest.raises(InvalidArgument):
        await h.engine.send(room, queue, [NewMessage(body="1")], create=True)
    assert h.stored()["rooms"] in ({}, [])


async def test_malformed_json_names_the_position(h: Harness) -> None:
    assert h.engine is not None
    with pytest.raises(InvalidArgument, match=r"messages\[1\]\.json .*line 1 column 7"):
        await h.engine.send(R, Q, [NewMessage(body="1"), NewMessage(body='{"a": }')],
                            create=True)
    assert h.stored()["messages"] in ({}, [])


@pytest.mark.parametrize("body", ['"\ud800"', '"\\ud800"', '["\\udc00x"]'])
async def test_lone_surrogates_are_refused(h: Harness, body: str) -> None:
    assert h.engine is not None
    with pytest.raises(InvalidArgument, match="surrogate"):
        await h.engine.send(R, Q, [NewMessage(body=body)], create=True)


async def test_an_escaped_surrogate_pair_is_fine(h: Harness) -> None:
    assert h.engine is not None
    await h.engine.send(R, Q, [NewMessage(body='"\\ud83d\\ude00"')], create=True)


@pytest.mark.parametrize("delay", [math.nan, math.inf, -1.0, 1e300])
async def test_bad_delays_are_refused(h: Harness, delay: float) -> None:
    assert h.engine is not None
    with pytest.raises(InvalidArgument, match="delay_seconds"):
        await h.engine.send(R, Q, [NewMessage(body="1", delay_seconds=delay)], create=True)


@pytest.mark.parametrize("headers", [{"a\x00": "v"}, {"a": "v\x00"}, {"": "v"}])
async def test_bad_headers_are_refused(h: Harness, headers: dict[str, str]) -> None:
    assert h.engine is not None
    with pytest.raises(InvalidArgument, match="headers"):
        await h.engine.send(R, Q, [NewMessage(body="1", headers=headers)], create=True)


async def test_bad_numbers_elsewhere_are_refused(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, [NewMessage(body="1")], create=True)
    [d] = await e.receive(R, Q)
    cases = [
        e.receive(R, Q, max_messages=0), e.receive(R, Q, max_messages=10**12),
        e.receive(R, Q, wait_seconds=math.nan), e.receive(R, Q, lease_seconds=1e300),
        e.subscribe(R, Q, max_in_flight=0), e.subscribe(R, Q, max_in_flight=1, lease_seconds=-1),
        e.nack(R, Q, [NackItem(lease_token=d.lease_token, delay_seconds=math.inf)]),
        e.extend(R, Q, [ExtendItem(lease_token=d.lease_token, seconds=math.nan)]),
        e.extend(R, Q, [ExtendItem(lease_token=d.lease_token, seconds=0)]),
        e.open_queue(R, Q, QueueOptions(max_deliveries=0)),
        e.open_queue(R, Q, QueueOptions(dedup_window_seconds=math.nan)),
        e.send(R, Q, []),
    ]
    for call in cases:
        with pytest.raises(InvalidArgument):
            await call
    # The lease survived every refused call.
    assert (await e.queue_info(R, Q)).in_flight == 1
    assert (await e.queue_info(R, Q)).options == QueueOptions()


async def test_the_dead_letter_queue_of_a_longest_name_is_usable(h: Harness) -> None:
    e = h.engine
    assert e is not None
    name = "q" * 128
    await e.open_queue("r", name, QueueOptions(max_deliveries=1))
    await e.send("r", name, [NewMessage(body="1")])
    [d] = await e.receive("r", name)
    await e.nack("r", name, [NackItem(lease_token=d.lease_token)])
    assert (await e.queue_info("r", name)).dead_lettered == 1
    [peeked] = await e.peek("r", name + ".dlq", 10)
    assert peeked.message_id == d.message_id
    assert [q.name for q in await e.list_queues("r")] == [name, name + ".dlq"]
    e = await h.restart()
    assert (await e.queue_info("r", name + ".dlq")).depth == 1
    assert await e.redrive("r", name) == 1
    with pytest.raises(InvalidArgument):
        await e.peek("r", "q" * 129, 10)
    with pytest.raises(InvalidArgument):
        await e.peek("r", "q" * 129 + ".dlq", 10)


@pytest.mark.parametrize("headers", [{"k": "v"}, {"ключ": "é \u2028 \"q\" \\ \n \x7f", "e": "😀"},
                                     {"a": "", "b": "\t"}])
def test_headers_are_stored_as_json_dumps_writes_them(headers: dict[str, str]) -> None:
    assert encode_headers(headers) == json.dumps(headers, separators=(",", ":"))
