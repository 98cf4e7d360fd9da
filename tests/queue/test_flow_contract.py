"""Flow control in the QueueBackend contract: rate limits, priorities, keys. Every test runs
against every backend in conftest.BACKENDS and the embedded engine's VARIANTS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import BACKENDS, VARIANTS, Harness, open_harness

from meshq.core.errors import InvalidArgument
from meshq.queue.backend import QueueBackend
from meshq.queue.flow import KEY_HEADER, PRIORITY_HEADER
from meshq.queue.model import NackItem, NewMessage, QueueOptions

R, Q = "room", "jobs"
CONTRACT = {**BACKENDS, **VARIANTS}


@pytest.fixture(params=list(CONTRACT))
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(CONTRACT[request.param], tmp_path):
        yield harness


def m(value: object, **kw: object) -> NewMessage:
    return NewMessage(body=json.dumps(value), **kw)  # type: ignore[arg-type]


def values(deliveries: list) -> list[object]:  # type: ignore[type-arg]
    return [json.loads(d.body) for d in deliveries]


def engine(h: Harness) -> QueueBackend:
    assert h.engine is not None
    return h.engine


async def test_higher_priority_first_fifo_within_one_also_after_a_restart(h: Harness) -> None:
    e = engine(h)
    await e.send(R, Q, [m("a"), m("b", priority=5), m("c", priority=9), m("d", priority=5)],
                 create=True)
    got = await e.receive(R, Q, max_messages=1)
    assert values(got) == ["c"] and got[0].headers[PRIORITY_HEADER] == "9"
    e = await h.restart()  # c was leased: ready again; the order is rebuilt from the store
    got = await e.receive(R, Q, max_messages=10, auto_ack=True)
    assert values(got) == ["c", "b", "d", "a"]


async def test_a_priority_out_of_range_is_refused_and_writes_nothing(h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q)
    before = h.stored()
    with pytest.raises(InvalidArgument, match="priority"):  # not even the queue it would create
        await e.send(R, "new", [m(1, priority=-1)], create=True)
    with pytest.raises(InvalidArgument, match="priority must be between 0 and 9"):
        await e.send(R, Q, [m(1), m(2, priority=10)])
    with pytest.raises(InvalidArgument, match="priority"):
        await e.send(R, Q, [NewMessage(body="1", headers={PRIORITY_HEADER: "high"})])
    assert h.stored() == before


async def test_key_concurrency_caps_leases_per_key_and_an_ack_frees_one(h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(key_concurrency=2))
    await e.send(R, Q, [m(f"a{i}", key="a") for i in range(5)] + [m("n")])
    got = await e.receive(R, Q, max_messages=10)
    assert sorted(values(got)) == ["a0", "a1", "n"]  # the unkeyed one is not limited
    assert await e.receive(R, Q, max_messages=10) == []
    await e.ack(R, Q, [got[0].lease_token])
    assert values(await e.receive(R, Q, max_messages=10)) == ["a2"]
    # A nack (and an expiry) ends a lease too; the message comes back in its place
    a1 = next(d for d in got if json.loads(d.body) == "a1")
    await e.nack(R, Q, [NackItem(lease_token=a1.lease_token)])
    again = await e.receive(R, Q, max_messages=10)
    assert values(again) == ["a1"] and again[0].attempt == 2
    e = await h.restart()  # the option is stored; leases are not
    assert (await e.queue_info(R, Q)).options.key_concurrency == 2
    assert sorted(values(await e.receive(R, Q, max_messages=10))) == ["a1", "a2", "n"]


async def test_keys_take_turns_so_a_backlog_does_not_starve_a_small_key(h: Harness) -> None:
    e = engine(h)
    await e.send(R, Q, [m(f"big{i}", key="big") for i in range(50)], create=True)
    await e.send(R, Q, [m(f"small{i}", key="small") for i in range(3)])
    out: list[object] = []
    for _ in range(6):
        out += values(await e.receive(R, Q, max_messages=1, auto_ack=True))
    assert [v for v in out if str(v).startswith("small")] == ["small0", "small1", "small2"]


async def test_the_rate_limit_paces_deliveries_to_all_consumers(h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(rate_limit=4, rate_burst=2))
    await e.send(R, Q, [m(i) for i in range(20)])
    assert len(await e.receive(R, Q, max_messages=10)) == 2  # the burst
    assert await e.receive(R, Q, max_messages=10, auto_ack=True) == []
    h.advance(0.5)  # 2 more tokens, whichever consumer asks
    assert len(await e.receive(R, Q, max_messages=10, auto_ack=True)) == 2
    h.advance(10)  # idle: at most the burst is saved up
    assert len(await e.receive(R, Q, max_messages=10, auto_ack=True)) == 2
    e = await h.restart()
    info = await e.queue_info(R, Q)
    assert (info.options.rate_limit, info.options.rate_burst) == (4, 2)
    assert len(await e.receive(R, Q, max_messages=10, auto_ack=True)) == 2


async def test_reopening_without_flow_options_keeps_them_and_zero_clears_none(
        h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(rate_limit=3, key_concurrency=1))
    await e.open_queue(R, Q, QueueOptions(rate_limit=0, key_concurrency=0))
    info = await e.queue_info(R, Q)
    assert (info.options.rate_limit, info.options.key_concurrency) == (0, 0)
    with pytest.raises(InvalidArgument, match="rate_burst needs a rate_limit"):
        await e.open_queue(R, Q, QueueOptions(rate_burst=3))


async def test_priority_and_key_survive_dead_lettering_and_redrive(h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(max_deliveries=1))
    await e.send(R, Q, [m("x", priority=3, key="t")])
    got = await e.receive(R, Q)
    await e.nack(R, Q, [NackItem(lease_token=got[0].lease_token)])
    dead = await e.peek(R, Q + ".dlq", 10)
    assert dead[0].headers[PRIORITY_HEADER] == "3" and dead[0].headers[KEY_HEADER] == "t"
    await e.send(R, Q, [m("low")])
    assert await e.redrive(R, Q) == 1
    assert values(await e.receive(R, Q, max_messages=10, auto_ack=True)) == ["x", "low"]


async def test_a_waiting_stream_gets_the_next_of_a_key_when_its_lease_ends(h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(key_concurrency=1))
    await e.send(R, Q, [m(1, key="k"), m(2, key="k")])
    first = await e.receive(R, Q)
    sub = await e.subscribe(R, Q, max_in_flight=5)
    waiting = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)
    assert not waiting.done()  # key k is at its limit
    await e.ack(R, Q, [first[0].lease_token])
    batch = await asyncio.wait_for(waiting, 10)
    assert values(batch) == [2]
    await sub.close()


async def test_an_expired_lease_frees_its_key_and_a_delayed_message_holds_no_slot(
        h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(key_concurrency=1))
    await e.send(R, Q, [m(1, key="k"), m(2, key="k")])
    first = await e.receive(R, Q, lease_seconds=5)
    assert values(first) == [1] and await e.receive(R, Q) == []
    h.advance(6)  # the lease expired: 1 is ready again (attempt 2), k's slot is free
    again = await e.receive(R, Q)
    assert values(again) == [1] and again[0].attempt == 2
    # A nack with a delay ends the lease at once: 2 may go while 1 waits out its delay
    await e.nack(R, Q, [NackItem(lease_token=again[0].lease_token, delay_seconds=60)])
    assert values(await e.receive(R, Q)) == [2]


async def test_a_stream_waiting_on_the_rate_limit_is_woken_when_a_token_is_due(
        h: Harness) -> None:
    e = engine(h)
    await e.open_queue(R, Q, QueueOptions(rate_limit=4, rate_burst=1))
    await e.send(R, Q, [m(1), m(2)])
    sub = await e.subscribe(R, Q, max_in_flight=10)
    assert values(await sub.next_batch()) == [1]  # the burst
    waiting = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)
    assert not waiting.done()  # no token
    h.advance(0.25)  # the next token is due; the flow gate's wake-up lets the stream take it
    assert values(await asyncio.wait_for(waiting, 10)) == [2]
    await sub.close()


async def test_a_key_limit_set_while_leased_counts_the_leases_held(h: Harness) -> None:
    e = engine(h)
    await e.send(R, Q, [m(i, key="k") for i in range(4)], create=True)
    held = await e.receive(R, Q, max_messages=2)  # no limit yet: 2 of k leased
    await e.open_queue(R, Q, QueueOptions(key_concurrency=2))
    assert await e.receive(R, Q, max_messages=10) == []  # k is at its new limit
    await e.open_queue(R, Q, QueueOptions(key_concurrency=0))
    await e.ack(R, Q, [held[0].lease_token])  # a lease ends while unlimited
    await e.open_queue(R, Q, QueueOptions(key_concurrency=2))  # 1 held now: 1 more may go
    assert values(await e.receive(R, Q, max_messages=10)) == [2]
