"""The hot-path variants give the same results as the plain ones.

``send_fields`` (the servicer's send) against ``send``; the fast frozen-dataclass
constructors against the dataclasses; the SQLite store's multi-row statements over batches
larger than one statement, with inserts and deletes interleaved in one group commit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import Harness

from meshq.core.errors import InvalidArgument
from meshq.queue import convert
from meshq.queue import store as st
from meshq.queue.model import (
    Delivery,
    NewMessage,
    QueueLimits,
    SendResult,
    SettleOutcome,
    new_delivery,
    new_send_result,
)
from meshq.queue.sqlite_plan import ROWS_PER_STATEMENT
from meshq.queue.sqlite_store import SqliteQueueStore
from meshq.v1 import queues_pb2

R = "fast"


def test_fast_constructors_build_equal_frozen_objects() -> None:
    d = new_delivery("m1", "{}", {"a": "b"}, 1.5, 2, "q", "tok", 9.0)
    assert d == Delivery(message_id="m1", body="{}", headers={"a": "b"}, enqueued_at=1.5,
                         attempt=2, queue="q", lease_token="tok", lease_expires_at=9.0)
    assert new_delivery("m1", "1", {}, 1.0, 1, "q") == Delivery(
        message_id="m1", body="1", headers={}, enqueued_at=1.0, attempt=1, queue="q")
    assert new_send_result("m2", True) == SendResult(message_id="m2", duplicate=True)
    assert hash(new_send_result("m3")) == hash(SendResult(message_id="m3"))
    with pytest.raises(AttributeError):
        d.attempt = 3  # type: ignore[misc]


async def test_send_fields_matches_send(h: Harness) -> None:
    e = h.engine
    assert e is not None
    headers = queues_pb2.OutgoingMessage(json="1", headers={"k": "v"}).headers
    results = await e.send_fields(R, "q", [
        ('{"a": "é"}', {}, 0.0, ""),
        ("[1, 2]", headers, 0.0, "d1"),
        ("3", {}, 0.0, "d1"),  # a duplicate in the same batch
        ("4", {}, 5.0, ""),
    ], create=True)
    assert [duplicate for _, duplicate in results] == [False, False, True, False]
    assert results[2][0] == results[1][0]
    info = await e.queue_info(R, "q")
    assert (info.depth, info.delayed) == (2, 1)  # depth counts ready messages
    got = await e.receive(R, "q", max_messages=10)
    assert [(d.body, d.headers) for d in got] == [('{"a": "é"}', {}), ("[1, 2]", {"k": "v"})]


@pytest.mark.parametrize("fields,match", [
    (("{", {}, 0.0, ""), r"messages\[0\]\.json is not valid JSON"),
    (("1 2", {}, 0.0, ""), "Extra data"),
    (('"\\ud800"', {}, 0.0, ""), "surrogate"),
    (('"\ud800"', {}, 0.0, ""), "not valid UTF-8"),
    ((b"1", {}, 0.0, ""), "must be text"),
    (("1", {"": "v"}, 0.0, ""), "headers"),
    (("1", {}, -1.0, ""), "delay_seconds"),
    (("1", {}, 0.0, "x" * 600), "dedup_id"),
    (('"' + "é" * 60 + '"', {}, 0.0, ""), "limit is 100"),  # 122 bytes, 62 characters
])
async def test_send_fields_refuses_what_send_refuses(h: Harness, fields: tuple,
                                                     match: str) -> None:
    e = await h.restart(limits=QueueLimits(max_message_bytes=100))
    before = h.stored()
    with pytest.raises(InvalidArgument, match=match):
        await e.send_fields(R, "q", [fields], create=True)
    with pytest.raises(InvalidArgument, match=match):
        body, headers, delay, dedup_id = fields
        await e.send(R, "q", [NewMessage(body=body, headers=headers, delay_seconds=delay,
                                         dedup_id=dedup_id)], create=True)
    assert h.stored() == before


async def test_big_interleaved_group_commits_survive_a_restart(h: Harness) -> None:
    """Sends and acks of more rows than one statement holds, committing together."""
    e = h.engine
    assert e is not None
    n = ROWS_PER_STATEMENT + 44
    e.limits = QueueLimits(max_batch=1000)
    await e.send(R, "q", [NewMessage(body=str(i)) for i in range(2 * n)], create=True)
    leased = await e.receive(R, "q", max_messages=n)
    # One ack and two sends in flight at once: the writer takes them as one group.
    outcomes, *_ = await asyncio.gather(
        e.ack(R, "q", [d.lease_token for d in leased]),
        e.send(R, "q", [NewMessage(body=str(2 * n + i)) for i in range(n)]),
        e.send(R, "q", [NewMessage(body=str(3 * n + i)) for i in range(3)]),
    )
    assert outcomes == [SettleOutcome.OK] * n
    e = await h.restart()
    info = await e.queue_info(R, "q")
    assert info.depth == 2 * n + 3
    bodies = [d.body for d in await e.receive(R, "q", max_messages=1000)]
    assert bodies == [str(i) for i in range(n, 3 * n + 3)]


def test_settle_results_and_deliveries_build_in_place() -> None:
    frame = queues_pb2.SubscribeResponse()
    convert.add_settle_results(frame.results, ["a", "b"],
                               [SettleOutcome.OK, SettleOutcome.STALE])
    convert.add_deliveries(frame.deliveries, [
        new_delivery("m", "{}", {"h": "v"}, 1.0004, 1, "q", "t", 2.0),
        new_delivery("p", "1", {}, 1.0, 3, "q"),
    ])
    assert [(r.lease_token, r.outcome) for r in frame.results] == [
        ("a", queues_pb2.SETTLE_OUTCOME_OK), ("b", queues_pb2.SETTLE_OUTCOME_STALE)]
    first, second = frame.deliveries
    assert first == convert.delivery_to_proto(
        new_delivery("m", "{}", {"h": "v"}, 1.0004, 1, "q", "t", 2.0))
    assert (first.enqueued_at_unix_ms, dict(first.headers)) == (1000, {"h": "v"})
    assert (second.lease_token, second.attempt) == ("", 3)
    with pytest.raises(ValueError):
        convert.add_settle_results(frame.results, ["a"], [])
    response = queues_pb2.SendResponse()
    convert.add_send_results(response.results, [("m1", False), ("m1", True)])
    assert [(r.message_id, r.duplicate) for r in response.results] == [("m1", False),
                                                                        ("m1", True)]


async def test_one_loop_iteration_of_submits_is_one_commit(tmp_path: Path) -> None:
    store = SqliteQueueStore(tmp_path / "q.db")
    await store.load(0.0)
    futures = [store.submit([st.PutRoom(f"r{i}", float(i))]) for i in range(3)]
    await asyncio.gather(*futures)
    assert store.commits == 1
    late = store.submit([st.PutRoom("last", 9.0)])
    await store.close()  # hands the pending batch over before stopping
    await late
    again = SqliteQueueStore(tmp_path / "q.db")
    snapshot = await again.load(0.0)
    await again.close()
    assert sorted(snapshot.rooms) == [("last", 9.0), ("r0", 0.0), ("r1", 1.0), ("r2", 2.0)]


@pytest.mark.parametrize("body", [" 1", "1\n", '\t{"a": [1, 2]} ', '"\\u00e9"', "[]"])
async def test_json_fast_path_accepts_what_json_loads_accepts(h: Harness, body: str) -> None:
    e = h.engine
    assert e is not None
    await e.send_fields(R, "ok", [(body, {}, 0.0, "")], create=True)
    [d] = await e.receive(R, "ok")
    assert d.body == body


@pytest.mark.parametrize("body,match", [
    ("", "Expecting value"), (" ", "Expecting value"), ('{"a": 1} x', "Extra data"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"), ("{'a': 1}", "line 1 column 2"),
    ("NaN", r"JSON text \(RFC 8259\)"), (' {"a": -Infinity}', r"JSON text \(RFC 8259\)"),
])
async def test_json_fast_path_refuses_with_the_position(h: Harness, body: str,
                                                        match: str) -> None:
    e = h.engine
    assert e is not None
    with pytest.raises(InvalidArgument, match=match):
        await e.send_fields(R, "bad", [(body, {}, 0.0, "")], create=True)
