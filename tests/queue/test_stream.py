"""The server side of Subscribe (``queue/stream.py``) over a real engine: how merged settle
frames are applied with one ``settle`` call, and refused frame by frame."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import BACKENDS, Harness, open_harness

from meshq.core.errors import InvalidArgument
from meshq.queue.model import MessageState, NewMessage
from meshq.queue.stream import SubscribeSession
from meshq.v1 import queues_pb2

R, Q = "room", "jobs"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(BACKENDS["sqlite"], tmp_path):
        yield harness


async def _frames(*frames: queues_pb2.SubscribeRequest
                  ) -> AsyncIterator[queues_pb2.SubscribeRequest]:
    for frame in frames:  # no await between them: the settler finds them all in its inbox
        yield frame


async def test_frames_before_a_bad_one_are_settled_and_answered_the_bad_one_refused(
    h: Harness,
) -> None:
    e = h.engine
    assert e is not None
    await e.send(R, Q, [NewMessage(body=json.dumps(n)) for n in (1, 2)], create=True)
    a, b = await e.receive(R, Q, max_messages=2, lease_seconds=30)
    # Given a consumer whose good frame (ack a) is followed at once by a bad one (ack b and
    # a nack with a negative delay)
    requests = _frames(
        queues_pb2.SubscribeRequest(open=queues_pb2.SubscribeOpen(
            room=R, queue=Q, max_in_flight=1)),
        queues_pb2.SubscribeRequest(ack_tokens=[a.lease_token]),
        queues_pb2.SubscribeRequest(ack_tokens=[b.lease_token], nacks=[
            queues_pb2.NackItem(lease_token=b.lease_token, delay_seconds=-1)]),
    )
    session = await SubscribeSession.open(e, requests)
    answered: list[str] = []
    # When the stream runs, Then the good frame is answered and the bad one ends it
    with pytest.raises(InvalidArgument, match="delay_seconds"):
        async with session:
            async for frame in session.frames():
                answered += [r.lease_token for r in frame.results
                             if r.outcome == queues_pb2.SETTLE_OUTCOME_OK]
    assert answered == [a.lease_token]
    # And only the good frame was applied: a is gone, b still leased (its ack refused)
    assert await e.message_state(R, Q, a.message_id) == (MessageState.GONE, 0)
    assert await e.message_state(R, Q, b.message_id) == (MessageState.IN_FLIGHT, 1)
