"""The QueueBackend contract: every test runs against every backend in conftest.BACKENDS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import BACKENDS, VARIANTS, Harness, open_harness

from meshq.core.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from meshq.queue.backend import QueueBackend, QueueSubscription
from meshq.queue.model import (
    LAST_ERROR_HEADER,
    ExtendItem,
    MessageFields,
    MessageState,
    NackItem,
    NewMessage,
    QueueLimits,
    QueueOptions,
    SettleOutcome,
)

OK, STALE = SettleOutcome.OK, SettleOutcome.STALE
R, Q = "room", "jobs"
CONTRACT = {**BACKENDS, **VARIANTS}


@pytest.fixture(params=list(CONTRACT))
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """Every backend, and every variant of the embedded engine."""
    async for harness in open_harness(CONTRACT[request.param], tmp_path):
        yield harness


def msgs(*values: object, **kw: object) -> list[NewMessage]:
    return [NewMessage(body=json.dumps(v), **kw) for v in values]  # type: ignore[arg-type]


async def bodies(h: Harness, n: int = 100, queue: str = Q) -> list[object]:
    assert h.engine is not None
    got = await h.engine.receive(R, queue, max_messages=n, auto_ack=True)
    return [json.loads(d.body) for d in got]


async def test_ready_messages_come_out_in_send_order(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1, 2, 3), create=True)
    await e.send(R, Q, msgs(4, 5))
    first = await e.receive(R, Q, max_messages=2)
    assert [json.loads(d.body) for d in first] == [1, 2]
    # When message 1 comes back it goes before 3 again (FIFO by enqueue order).
    await e.nack(R, Q, [NackItem(lease_token=first[0].lease_token)])
    assert await bodies(h) == [1, 3, 4, 5]


async def test_a_lease_is_settled_once_and_ack_removes_for_good(h: Harness) -> None:
    e = h.engine
    assert e is not None
    [sent] = await e.send(R, Q, msgs({"a": 1}), create=True)
    [d] = await e.receive(R, Q)
    assert (d.message_id, d.attempt, d.queue) == (sent.message_id, 1, Q)
    assert d.lease_expires_at == pytest.approx(h.clock.now + 30)
    assert (await e.queue_info(R, Q)).in_flight == 1
    assert await e.ack(R, Q, [d.lease_token, d.lease_token, "nope"]) == [OK, STALE, STALE]
    assert await e.message_state(R, Q, sent.message_id) == (MessageState.GONE, 0)
    e = await h.restart()
    assert await e.receive(R, Q) == []


async def test_expired_lease_redelivers_with_attempt_plus_one_and_old_token_is_stale(
    h: Harness,
) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("x"), create=True)
    [first] = await e.receive(R, Q, lease_seconds=10)
    h.advance(10.5)
    assert (await e.queue_info(R, Q)).depth == 1
    [second] = await e.receive(R, Q, lease_seconds=10)
    assert second.attempt == 2 and second.lease_token != first.lease_token
    # The first consumer's late ack is refused and changes nothing.
    assert await e.ack(R, Q, [first.lease_token]) == [STALE]
    assert await e.message_state(R, Q, second.message_id) == (MessageState.IN_FLIGHT, 2)
    assert await e.extend(R, Q, [ExtendItem(lease_token=first.lease_token, seconds=5)]) == [STALE]
    assert await e.nack(R, Q, [NackItem(lease_token=first.lease_token)]) == [STALE]
    assert await e.ack(R, Q, [second.lease_token]) == [OK]


async def test_expiry_is_applied_before_a_late_settle_even_if_the_timer_has_not_fired(
    h: Harness,
) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("x"), create=True)
    [d] = await e.receive(R, Q, lease_seconds=1)
    h.clock.advance(2)
    assert await e.ack(R, Q, [d.lease_token]) == [STALE]
    assert await e.message_state(R, Q, d.message_id) == (MessageState.READY, 1)


async def test_extend_keeps_the_lease(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("x"), create=True)
    [d] = await e.receive(R, Q, lease_seconds=5)
    h.clock.advance(4)
    assert await e.extend(R, Q, [ExtendItem(lease_token=d.lease_token, seconds=5)]) == [OK]
    h.advance(4)
    assert await e.ack(R, Q, [d.lease_token]) == [OK]


async def test_attempts_count_persist_across_restart_but_a_crash_is_not_an_attempt(
    h: Harness,
) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("x"), create=True)
    [d] = await e.receive(R, Q)
    await e.nack(R, Q, [NackItem(lease_token=d.lease_token, error="boom")])
    [d] = await e.receive(R, Q)
    assert d.attempt == 2
    e = await h.restart()  # d was leased: after the restart it is ready, attempt unchanged
    [again] = await e.receive(R, Q)
    assert again.attempt == 2 and again.headers[LAST_ERROR_HEADER] == "boom"
    assert await e.ack(R, Q, [d.lease_token]) == [STALE]


async def test_nack_with_delay_waits_then_redelivers(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("x"), create=True)
    [d] = await e.receive(R, Q)
    await e.nack(R, Q, [NackItem(lease_token=d.lease_token, delay_seconds=30, error="later")])
    assert (await e.queue_info(R, Q)).delayed == 1
    assert await e.message_state(R, Q, d.message_id) == (MessageState.DELAYED, 1)
    assert await e.receive(R, Q) == []
    h.advance(31)
    [d2] = await e.receive(R, Q)
    assert d2.attempt == 2 and d2.headers[LAST_ERROR_HEADER] == "later"


async def test_delay_seconds_holds_a_message_back_also_across_restart(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("late", delay_seconds=60), create=True)
    await e.send(R, Q, msgs("now"))
    assert await bodies(h) == ["now"]
    e = await h.restart()
    assert (await e.queue_info(R, Q)).delayed == 1
    h.advance(61)
    assert await bodies(h) == ["late"]


async def test_failing_max_deliveries_times_dead_letters_and_redrive_brings_it_back(
    h: Harness,
) -> None:
    e = h.engine
    assert e is not None
    await e.open_queue(R, Q, QueueOptions(max_deliveries=2))
    [sent] = await e.send(R, Q, msgs("poison"))
    [d] = await e.receive(R, Q)
    await e.nack(R, Q, [NackItem(lease_token=d.lease_token, error="bad")])
    [d] = await e.receive(R, Q, lease_seconds=1)
    h.advance(2)  # second failure: the lease expires
    info = await e.queue_info(R, Q)
    assert (info.depth, info.dead_lettered) == (0, 1)
    e = await h.restart()
    [dead] = await e.receive(R, Q + ".dlq")
    assert dead.message_id == sent.message_id
    assert dead.headers[LAST_ERROR_HEADER] == "lease expired"
    await e.nack(R, Q + ".dlq", [NackItem(lease_token=dead.lease_token)])
    assert await e.redrive(R, Q) == 1
    [back] = await e.receive(R, Q)
    assert back.attempt == 1 and back.message_id == sent.message_id
    assert (await e.queue_info(R, Q)).dead_lettered == 0


async def test_a_dead_letter_queue_has_no_dead_letter_queue_of_its_own(h: Harness) -> None:
    e = h.engine
    assert e is not None
    dlq = Q + ".dlq"
    await e.open_queue(R, dlq, QueueOptions(max_deliveries=1))
    await e.send(R, dlq, msgs("x"))
    for attempt in (1, 2, 3):
        [d] = await e.receive(R, dlq)
        assert d.attempt == attempt
        await e.nack(R, dlq, [NackItem(lease_token=d.lease_token)])
    assert [q.name for q in await e.list_queues(R)] == [dlq]


async def test_dedup_returns_the_first_id_and_enqueues_nothing(h: Harness) -> None:
    e = h.engine
    assert e is not None
    first = await e.send(R, Q, msgs("a", dedup_id="job-1"), create=True)
    again = await e.send(R, Q, msgs("a", "a", dedup_id="job-1"))
    assert [r.message_id for r in again] == [first[0].message_id] * 2
    assert [r.duplicate for r in first + again] == [False, True, True]
    [d] = await e.receive(R, Q)
    await e.ack(R, Q, [d.lease_token])
    # Acked, restarted: still remembered within the window.
    e = await h.restart()
    [dup] = await e.send(R, Q, msgs("a", dedup_id="job-1"))
    assert dup.duplicate and dup.message_id == first[0].message_id
    assert await e.receive(R, Q) == []


async def test_dedup_forgets_after_its_window(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.open_queue(R, Q, QueueOptions(dedup_window_seconds=10))
    [a] = await e.send(R, Q, msgs("a", dedup_id="k"))
    h.clock.advance(11)
    [b] = await e.send(R, Q, msgs("b", dedup_id="k"))
    assert not b.duplicate and b.message_id != a.message_id
    assert await bodies(h) == ["a", "b"]


async def test_drain_removes_everything_and_leased_tokens_go_stale(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1, 2, 3), create=True)
    await e.send(R, Q, msgs(4, delay_seconds=100))
    [d] = await e.receive(R, Q)
    assert await e.drain_queue(R, Q) == 4
    assert await e.ack(R, Q, [d.lease_token]) == [STALE]
    info = await e.queue_info(R, Q)
    assert (info.depth, info.in_flight, info.delayed) == (0, 0, 0)
    e = await h.restart()
    assert await e.receive(R, Q) == [] and (await e.queue_info(R, Q)).delayed == 0


async def test_closed_queue_refuses_send_receive_subscribe_until_reopened(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs("x"), create=True)
    await e.close_queue(R, Q)
    e = await h.restart()  # closed is durable
    assert (await e.queue_info(R, Q)).closed
    for call in (e.send(R, Q, msgs("y")), e.receive(R, Q),
                 e.subscribe(R, Q, max_in_flight=1)):
        with pytest.raises(FailedPrecondition):
            await call
    await e.open_queue(R, Q)
    assert await bodies(h) == ["x"]


async def test_missing_queue_without_create_is_not_found(h: Harness) -> None:
    e = h.engine
    assert e is not None
    for call in (e.send(R, Q, msgs(1)), e.receive(R, Q), e.ack(R, Q, ["t"]),
                 e.subscribe(R, Q, max_in_flight=1)):
        with pytest.raises(NotFound):
            await call
    assert h.stored()["queues"] in ({}, [])


async def test_limits_refuse_and_write_nothing(h: Harness) -> None:
    e = await h.restart(limits=QueueLimits(max_message_bytes=100, max_batch=3,
                                           max_queues_per_room=2, max_depth=4))
    await e.send(R, "a", msgs(1, 2, 3), create=True)
    before = h.stored()
    with pytest.raises(InvalidArgument, match="limit is 100"):
        await e.send(R, "a", [NewMessage(body='"' + "x" * 90 + '"', headers={"k": "v" * 9})])
    with pytest.raises(InvalidArgument, match="limit is 3"):
        await e.send(R, "a", msgs(1, 2, 3, 4))
    with pytest.raises(ResourceExhausted):
        await e.send(R, "a", msgs(4, 5))
    await e.open_queue(R, "b")
    with pytest.raises(ResourceExhausted):
        await e.send(R, "c", msgs(1), create=True)
    after = h.stored()
    assert after["messages"] == before["messages"]
    assert len(after["queues"]) == 2


async def test_rooms_create_list_delete(h: Harness) -> None:
    e = h.engine
    assert e is not None
    info, created = await e.create_room("r1")
    assert created and info.queue_count == 0
    _, created = await e.create_room("r1", if_not_exists=True)
    assert not created
    await e.send("r1", "q", msgs(1), create=True)
    with pytest.raises(FailedPrecondition):
        await e.delete_room("r1")
    e = await h.restart()
    assert [r.name for r in await e.list_rooms()] == ["r1"]
    assert (await e.get_room("r1")).queue_count == 1
    await e.delete_room("r1", force=True)
    e = await h.restart()
    assert await e.list_rooms() == []
    with pytest.raises(NotFound):
        await e.get_room("r1")


async def test_delete_queue_removes_messages_and_ends_subscriptions(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1), create=True)
    sub = await e.subscribe(R, Q, max_in_flight=5)
    assert len(await sub.next_batch()) == 1
    await e.delete_queue(R, Q)
    assert await sub.next_batch() == [] and sub.closed
    with pytest.raises(NotFound):
        await e.queue_info(R, Q)
    e = await h.restart()
    assert await e.list_queues(R) == []


async def test_peek_shows_without_leasing(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1, 2, 3), create=True)
    peeked = await _peek(h, 2)
    assert [json.loads(p.body) for p in peeked] == [1, 2] and not peeked[0].lease_token
    assert (await e.queue_info(R, Q)).depth == 3


async def _peek(h: Harness, n: int) -> list:  # type: ignore[type-arg]
    assert h.engine is not None
    return await h.engine.peek(R, Q, n)


async def test_restart_keeps_sends_and_acks(h: Harness) -> None:
    e = h.engine
    assert e is not None
    sent = await e.send(R, Q, msgs(*range(10)), create=True)
    got = await e.receive(R, Q, max_messages=4)
    await e.ack(R, Q, [d.lease_token for d in got])
    e = await h.restart()
    assert await bodies(h) == list(range(4, 10))
    [more] = await e.send(R, Q, msgs("new"))
    assert more.message_id not in {s.message_id for s in sent}
    assert await bodies(h) == ["new"]


async def test_subscription_respects_its_window_and_close_hands_back(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(*range(5)), create=True)
    sub = await e.subscribe(R, Q, max_in_flight=2)
    batch = await sub.next_batch()
    assert [json.loads(d.body) for d in batch] == [0, 1]
    await e.ack(R, Q, [batch[0].lease_token])
    [d] = await sub.next_batch()  # one credit freed
    assert json.loads(d.body) == 2
    sub.set_max_in_flight(4)
    assert len(await sub.next_batch()) == 2
    await sub.close()
    await sub.close()
    assert await sub.next_batch() == []
    info = await e.queue_info(R, Q)
    assert (info.depth, info.in_flight) == (4, 0)
    again = await e.receive(R, Q, max_messages=10)
    assert [x.attempt for x in again] == [1, 1, 1, 1]  # a hand-back is not an attempt


async def test_message_state_follows_a_message(h: Harness) -> None:
    e = h.engine
    assert e is not None
    [s] = await e.send(R, Q, msgs(1), create=True)
    assert await e.message_state(R, Q, s.message_id) == (MessageState.READY, 0)
    [d] = await e.receive(R, Q)
    assert await e.message_state(R, Q, s.message_id) == (MessageState.IN_FLIGHT, 1)
    await e.ack(R, Q, [d.lease_token])
    assert await e.message_state(R, Q, s.message_id) == (MessageState.GONE, 0)


async def test_a_message_can_carry_its_own_dedup_window(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.open_queue(R, Q, QueueOptions(dedup_window_seconds=60))
    day = 24 * 3600.0
    [long] = await e.send(R, Q, msgs(1, dedup_id="long", dedup_window_seconds=30 * day))
    [short] = await e.send(R, Q, msgs(2, dedup_id="short", dedup_window_seconds=5))
    await e.send(R, Q, msgs(3, dedup_id="queue"))  # the queue's 60 s
    h.clock.advance(10)
    e = await h.restart()  # the lifetime is stored with the dedup record
    again = await e.send(R, Q, [NewMessage(body="1", dedup_id="long"),
                                NewMessage(body="2", dedup_id="short"),
                                NewMessage(body="3", dedup_id="queue")])
    assert again[0].message_id == long.message_id
    assert [r.duplicate for r in again] == [True, False, True]
    assert again[1].message_id != short.message_id
    h.clock.advance(20 * day)
    e = await h.restart()
    [still] = await e.send(R, Q, msgs(1, dedup_id="long"))
    assert (still.message_id, still.duplicate) == (long.message_id, True)
    h.clock.advance(11 * day)
    [fresh] = await e.send(R, Q, msgs(1, dedup_id="long"))
    assert not fresh.duplicate


async def test_a_message_dedup_window_applies_on_a_queue_without_dedup(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.open_queue(R, Q, QueueOptions(dedup_window_seconds=0))
    [first] = await e.send(R, Q, msgs(1, dedup_id="k", dedup_window_seconds=100))
    [again] = await e.send(R, Q, msgs(1, dedup_id="k"))
    assert (again.message_id, again.duplicate) == (first.message_id, True)
    [plain] = await e.send(R, Q, msgs(1, dedup_id="other"))
    [plain2] = await e.send(R, Q, msgs(1, dedup_id="other"))
    assert not plain2.duplicate and plain2.message_id != plain.message_id


@pytest.mark.parametrize("window", [-1.0, 30 * 24 * 3600.0 + 1, float("nan"), float("inf")])
async def test_a_bad_message_dedup_window_is_refused(h: Harness, window: float) -> None:
    e = h.engine
    assert e is not None
    with pytest.raises(InvalidArgument, match="dedup_window_seconds"):
        await e.send(R, Q, msgs(1, dedup_id="k", dedup_window_seconds=window), create=True)


async def test_the_backend_is_a_queue_backend(h: Harness) -> None:
    # Every method the servicers, the scheduler and the pools call is there.
    assert isinstance(h.engine, QueueBackend)
    sub = await h.engine.subscribe(R, Q, max_in_flight=1, create=True)
    assert isinstance(sub, QueueSubscription)
    await sub.close()


async def test_settle_applies_extensions_then_acks_then_nacks_in_one_call(h: Harness) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1, 2, 3), create=True)
    a, b, c = await e.receive(R, Q, max_messages=3, lease_seconds=5)
    # One call: a extended then acked (still OK), b nacked, c extended, a bogus token
    done = await e.settle(R, Q, acks=[a.lease_token, "nope"],
                          nacks=[NackItem(lease_token=b.lease_token, error="bad")],
                          extends=[ExtendItem(lease_token=a.lease_token, seconds=60),
                                   ExtendItem(lease_token=c.lease_token, seconds=60)])
    assert (done.extends, done.acks, done.nacks) == ([OK, OK], [OK, STALE], [OK])
    h.advance(30)  # past the first lease: c's extension holds it
    assert await e.message_state(R, Q, a.message_id) == (MessageState.GONE, 0)
    assert await e.message_state(R, Q, b.message_id) == (MessageState.READY, 1)
    assert await e.message_state(R, Q, c.message_id) == (MessageState.IN_FLIGHT, 1)


@pytest.mark.parametrize("bad", [
    {"nacks": [NackItem(lease_token="x", delay_seconds=-1)]},
    {"extends": [ExtendItem(lease_token="x", seconds=0)]},
    {"acks": ["x"] * 1001},
])
async def test_a_settle_with_a_bad_item_is_refused_whole(h: Harness, bad: dict[str, list[object]]
                                                         ) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, msgs(1, 2), create=True)
    a, b = await e.receive(R, Q, max_messages=2, lease_seconds=5)
    before = h.stored()
    calls = {"acks": [a.lease_token], "extends": [ExtendItem(lease_token=b.lease_token, seconds=60)]}
    for kind, items in bad.items():
        calls[kind] = [*calls.get(kind, []), *items]
    with pytest.raises(InvalidArgument):
        await e.settle(R, Q, **calls)  # type: ignore[arg-type]
    # Nothing of it applied: a is still leased, b's lease was not extended
    assert h.stored() == before
    h.advance(6)
    assert await e.message_state(R, Q, a.message_id) == (MessageState.READY, 1)
    assert await e.message_state(R, Q, b.message_id) == (MessageState.READY, 1)


async def test_checked_messages_send_as_send_fields_would(h: Harness) -> None:
    e = h.engine
    assert e is not None
    # Given messages validated ahead of their send (bad ones refused there, as by a send)
    checked = e.check_messages([MessageFields('{"n": 1}', {"k": "v"}, 0.0, "once"),
                                MessageFields("2", {})])
    with pytest.raises(InvalidArgument, match=r"messages\[1\]\.json"):
        e.check_messages([MessageFields("1", {}), MessageFields("{", {})])
    # When sent, and the first one again: its dedup id holds
    first = await e.send_checked(R, Q, checked, create=True)
    again = await e.send_checked(R, Q, checked[:1])
    assert [s.duplicate for s in first + again] == [False, False, True]
    assert again[0].message_id == first[0].message_id
    # Then they come out as sent
    got = await e.receive(R, Q, max_messages=10, auto_ack=True)
    assert [(d.body, d.headers.get("k")) for d in got] == [('{"n": 1}', "v"), ("2", None)]
    # And the batch and its target are still checked
    with pytest.raises(InvalidArgument):
        await e.send_checked(R, Q, [])
    with pytest.raises(InvalidArgument):
        await e.send_checked(R, "no/such", checked)
