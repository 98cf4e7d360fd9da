"""Consumers are woken by events and deadlines by the one timer: real clock, no polling."""

from __future__ import annotations

import asyncio
import json
import time

from conftest import Harness
from test_contract import msgs

R, Q = "room", "wake"


async def test_an_idle_subscriber_gets_a_new_message_at_once(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    sub = await e.subscribe(R, Q, max_in_flight=10, create=True)
    waiting = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)  # let it park on its event
    assert not waiting.done()
    started = time.perf_counter()
    await e.send(R, Q, msgs("hello"))
    async with asyncio.timeout(5):
        [d] = await waiting
    elapsed = time.perf_counter() - started
    assert json.loads(d.body) == "hello"
    assert elapsed < 0.05, f"woken after {elapsed * 1000:.1f} ms"
    await sub.close()


async def test_a_long_poll_receive_returns_when_a_message_arrives(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    await e.open_queue(R, Q)
    polling = asyncio.create_task(e.receive(R, Q, wait_seconds=30, max_messages=5))
    await asyncio.sleep(0)
    await e.send(R, Q, msgs(1, 2))
    async with asyncio.timeout(5):
        got = await polling
    assert [json.loads(d.body) for d in got] == [1, 2]


async def test_a_long_poll_times_out_empty(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    assert await e.receive(R, Q, wait_seconds=0.02, create=True) == []


async def test_the_timer_expires_a_lease_and_wakes_the_next_consumer(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    await e.send(R, Q, msgs("job"), create=True)
    [first] = await e.receive(R, Q, lease_seconds=0.05)
    sub = await e.subscribe(R, Q, max_in_flight=1)
    async with asyncio.timeout(5):
        [again] = await sub.next_batch()  # woken by the lease-expiry timer
    assert again.message_id == first.message_id and again.attempt == 2
    await sub.close()


async def test_the_timer_releases_a_delayed_message(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    sub = await e.subscribe(R, Q, max_in_flight=1, create=True)
    await e.send(R, Q, msgs("later", delay_seconds=0.05))
    sent_at = time.time()
    async with asyncio.timeout(5):
        [d] = await sub.next_batch()
    assert time.time() - sent_at >= 0.04
    assert json.loads(d.body) == "later"
    await sub.close()


async def test_auto_ack_receive_removes_durably(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1, 2), create=True)
    got = await e.receive(R, Q, max_messages=1, auto_ack=True)
    assert [d.lease_token for d in got] == [""]
    e = await h.restart()
    assert [json.loads(d.body) for d in await e.receive(R, Q, max_messages=5)] == [2]
