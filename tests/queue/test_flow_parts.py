"""Flow control's pure parts: the token bucket over given instants, the priority / key-fair
ready index, option and header checks."""

from __future__ import annotations

import pytest

from meshq.core.errors import InvalidArgument
from meshq.queue.flow import (
    KEY_HEADER,
    PRIORITY_HEADER,
    FlowIndex,
    TokenBucket,
    burst_of,
    check_flow_options,
    flow_headers,
    flow_record,
    parse_flow_record,
)
from meshq.queue.model import QueueOptions
from meshq.queue.state import READY, Msg, QueueState


def test_a_bucket_grants_its_burst_then_the_rate() -> None:
    b = TokenBucket(rate=10, burst=5, now=0.0)
    assert b.take(100, 0.0) == 5  # the saved-up burst
    assert b.take(1, 0.0) == 0
    assert b.wait(0.0) == pytest.approx(0.1)
    assert b.take(100, 0.35) == 3  # 3.5 tokens accrued: whole ones only
    assert b.take(100, 0.4) == 1  # the half left + 0.5 more
    assert b.take(100, 100.0) == 5  # never more than the burst saved


def test_a_bucket_over_a_long_run_grants_the_rate() -> None:
    b = TokenBucket(rate=40, burst=1, now=0.0)
    granted = sum(b.take(4, i * 0.001) for i in range(30_000))  # 30 s in 1 ms steps
    assert granted == pytest.approx(40 * 30, abs=2)


def test_unused_tokens_go_back_up_to_the_burst() -> None:
    b = TokenBucket(rate=1, burst=3, now=0.0)
    assert b.take(3, 0.0) == 3
    b.give_back(5)
    assert b.take(10, 0.0) == 3


def test_default_burst_is_one_second_of_the_rate() -> None:
    assert burst_of(QueueOptions(rate_limit=0.5)) == 1
    assert burst_of(QueueOptions(rate_limit=25.2)) == 26
    assert burst_of(QueueOptions(rate_limit=25, rate_burst=3)) == 3


@pytest.mark.parametrize(("options", "message"), [
    (QueueOptions(rate_limit=-1), "rate_limit"),
    (QueueOptions(rate_limit=float("nan")), "rate_limit"),
    (QueueOptions(rate_burst=5), "needs a rate_limit"),
    (QueueOptions(rate_limit=1, rate_burst=-1), "rate_burst"),
    (QueueOptions(key_concurrency=-2), "key_concurrency"),
])
def test_bad_flow_options_are_refused(options: QueueOptions, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_flow_options(options)


def test_flow_records_round_trip() -> None:
    opts = QueueOptions(rate_limit=2.5, rate_burst=4, key_concurrency=3)
    kwargs, indexed = parse_flow_record(flow_record(opts, True))
    assert kwargs == {"rate_limit": 2.5, "rate_burst": 4, "key_concurrency": 3} and indexed
    assert flow_record(QueueOptions(), False) == ""
    assert parse_flow_record("") == ({}, False)


def test_priority_and_key_become_headers() -> None:
    assert flow_headers({"a": "1"}, 0, "", "m") == {"a": "1"}
    assert flow_headers({}, 7, "t1", "m") == {PRIORITY_HEADER: "7", KEY_HEADER: "t1"}
    with pytest.raises(InvalidArgument, match="between 0 and 9"):
        flow_headers({}, 10, "", "messages[0]")


# -- the index --------------------------------------------------------------------------------

Q = QueueState("r", "q", QueueOptions(), 0.0)


def ready(index: FlowIndex, seq: int, priority: int = 0, key: str = "") -> Msg:
    headers = flow_headers({}, priority, key, "m")
    m = Msg(f"m{seq}", "{}", headers, "{}", float(seq), 0, seq, 0.0, Q)
    back_to_ready(index, m)
    return m


def back_to_ready(index: FlowIndex, m: Msg) -> None:
    m.state = READY  # what QueueState.make_ready does: ready, a new version
    m.ver += 1
    index.push(m)


def drain_ids(index: FlowIndex) -> list[str]:
    out = []
    while (e := index.pop()) is not None:
        assert isinstance(e, Msg)
        out.append(e.id)
    return out


def test_higher_priority_first_fifo_within_one() -> None:
    index = FlowIndex()
    for seq, prio in [(1, 0), (2, 5), (3, 9), (4, 5), (5, 0)]:
        ready(index, seq, prio)
    assert drain_ids(index) == ["m3", "m2", "m4", "m1", "m5"]


def test_keys_take_turns_so_a_backlog_does_not_starve_a_small_key() -> None:
    # Given a big key with 100 messages sent before a small key's 3
    index = FlowIndex()
    for seq in range(100):
        ready(index, seq, key="big")
    for seq in range(100, 103):
        ready(index, seq, key="small")
    # Then the small key's messages come out within its first 6 deliveries, in order
    first = drain_ids(index)[:6]
    assert [i for i in first if int(i[1:]) >= 100] == ["m100", "m101", "m102"]


def test_a_key_at_its_concurrency_is_passed_over_until_a_lease_ends() -> None:
    index = FlowIndex(key_limit=2)
    msgs = [ready(index, seq, key="k") for seq in range(5)]
    ready(index, 10, key="")  # no key: never limited
    got = [index.pop(), index.pop(), index.pop()]
    assert got == [msgs[0], m10 := got[1], msgs[1]] and isinstance(m10, Msg) and m10.id == "m10"
    assert index.pop() is None and index.leased("k") == 2
    # When one lease of "k" ends, the next of "k" is free
    assert index.release(msgs[0]) is True
    assert index.pop() is msgs[2]


def test_stale_entries_are_skipped_and_a_message_that_comes_back_keeps_its_place() -> None:
    index = FlowIndex()
    a, b = ready(index, 1), ready(index, 2)
    assert index.pop() is a
    back_to_ready(index, a)  # nacked: ready again
    b.state = 4  # gone (acked elsewhere); its entry is now stale
    assert drain_ids(index) == ["m1"]


def test_peek_order_drain_and_cold_entries() -> None:
    index = FlowIndex()
    ready(index, 1, 0)
    ready(index, 2, 3)
    index.push_cold(0, 0.5)  # a redriven message without an object: priority 0, no key
    first = index.first(3)
    assert [e if isinstance(e, int) else e.id for e in first] == ["m2", 0, "m1"]
    assert index.cold_count() == 1 and index.oldest_enqueued_at() == 0.5
    drained = index.drain()
    assert [seq for seq, _, _ in drained] == [0, 1, 2] and index.pop() is None


def test_a_delivery_carries_priority_and_key_in_its_own_fields() -> None:
    from meshq.queue import convert
    from meshq.queue.model import new_delivery
    from meshq.v1 import queues_pb2

    out = queues_pb2.SubscribeResponse()
    convert.add_deliveries(out.deliveries, [
        new_delivery("a", "1", {PRIORITY_HEADER: "7", KEY_HEADER: "t", "trace": "x"}, 1.0, 1,
                     "q", "tok", 2.0),
        new_delivery("b", "1", {KEY_HEADER: "u"}, 1.0, 1, "q", "tok2", 2.0),
        new_delivery("c", "1", {"trace": "y"}, 1.0, 1, "q", "tok3", 2.0),
    ])
    got = [(d.priority, d.key, dict(d.headers)) for d in out.deliveries]
    assert got == [(7, "t", {"trace": "x"}), (0, "u", {}), (0, "", {"trace": "y"})]
    assert convert.delivery_to_proto(new_delivery(
        "d", "1", {PRIORITY_HEADER: "2"}, 1.0, 1, "q")).priority == 2


def test_a_returned_message_goes_before_later_fresh_ones_of_its_lane() -> None:
    index = FlowIndex()
    a, b, c = (ready(index, seq, key="k") for seq in (1, 2, 3))
    assert index.pop_many(2) == [a, b]
    back_to_ready(index, a)  # nacked: seq 1 is older than c
    d = ready(index, 4, key="k")
    assert index.pop_many(10) == [a, c, d]


def test_a_batch_is_what_pops_one_at_a_time_give() -> None:
    """``pop_many(n)`` against ``n`` single pops, over priorities, keys at their limit and
    returned messages, on two indexes fed the same."""
    import random

    rng = random.Random(5)
    one, many = FlowIndex(key_limit=3), FlowIndex(key_limit=3)
    seqs = iter(range(1, 10_000))
    taken: list[tuple[Msg, Msg]] = []
    for _ in range(40):
        for _ in range(rng.randrange(1, 30)):
            seq, prio, key = next(seqs), rng.randrange(4), rng.choice(["", "a", "b", "c"])
            ready(one, seq, prio, key), ready(many, seq, prio, key)
        n = rng.randrange(1, 12)
        singles = [e for _ in range(n) if (e := one.pop()) is not None]
        batch = many.pop_many(n)
        assert [e.id for e in singles] == [e.id for e in batch]  # type: ignore[union-attr]
        taken.extend(zip(singles, batch, strict=True))  # type: ignore[arg-type]
        for _ in range(rng.randrange(len(taken) + 1)):  # some leases end: acked or returned
            x, y = taken.pop(rng.randrange(len(taken)))
            one.release(x), many.release(y)
            if rng.random() < 0.5:
                back_to_ready(one, x), back_to_ready(many, y)
            else:
                x.state = y.state = 4  # gone
    assert drain_ids(one) == drain_ids(many)
