"""Consumers are woken by events and deadlines by the one timer: real clock, no polling.

No wall-clock upper bound is asserted (a loaded 2-core machine stalls for any time at all):
"at once" is measured in event-loop turns after the send has returned, which an event
wake-up needs a few of and a poll would need its interval for; the ``asyncio.timeout``s only
turn a hang into a failure. Lower bounds (a delay is never released early) hold under any
load.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from conftest import Harness
from test_contract import msgs

R, Q = "room", "wake"
HANG = 60.0  # seconds: only a hang takes this long
WAKE_TURNS = 10  # event-loop turns an event wake-up may take once the send has returned


async def turns_until_done(task: asyncio.Task[Any]) -> int | None:
    """Event-loop turns (``sleep(0)``, no timer involved) until ``task`` is done; None if it
    is still waiting after WAKE_TURNS."""
    for turn in range(WAKE_TURNS):
        if task.done():
            return turn
        await asyncio.sleep(0)
    return 0 if task.done() else None


async def test_an_idle_subscriber_gets_a_new_message_at_once(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    sub = await e.subscribe(R, Q, max_in_flight=10, create=True)
    waiting = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)  # let it park on its event
    assert not waiting.done()
    # When a message is sent (the reply means it is committed, fsync included)
    await e.send(R, Q, msgs("hello"))
    # Then the parked subscriber is done within a few loop turns: woken, not polling
    turns = await turns_until_done(waiting)
    assert turns is not None, f"still waiting {WAKE_TURNS} loop turns after the send"
    [d] = waiting.result()
    assert json.loads(d.body) == "hello"
    await sub.close()


async def test_a_long_poll_receive_returns_when_a_message_arrives(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    await e.open_queue(R, Q)
    polling = asyncio.create_task(e.receive(R, Q, wait_seconds=HANG, max_messages=5))
    await asyncio.sleep(0)
    await e.send(R, Q, msgs(1, 2))
    async with asyncio.timeout(HANG / 2):  # a wait that ran its course would take HANG
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
    async with asyncio.timeout(HANG):
        [again] = await sub.next_batch()  # woken by the lease-expiry timer
    assert again.message_id == first.message_id and again.attempt == 2
    await sub.close()


async def test_the_timer_releases_a_delayed_message(h: Harness) -> None:
    e = await h.restart(real_clock=True)
    sub = await e.subscribe(R, Q, max_in_flight=1, create=True)
    before_send = time.time()  # the delay counts from a moment after this
    await e.send(R, Q, msgs("later", delay_seconds=0.05))
    async with asyncio.timeout(HANG):
        [d] = await sub.next_batch()
    assert time.time() - before_send >= 0.05 - 1e-3  # never early (1 ms: clock rounding)
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
