"""Redrive or delete one chosen dead letter, with the queue API's own calls.

RedriveQueue moves the oldest dead letters; to act on one picked from the list, the
Studio leases the dead-letter queue's messages up to the chosen one (Receive, oldest
first), settles that one and hands the others straight back (Nack, no delay: a
dead-letter queue never dead-letters further, and redrive resets attempts anyway).
Redriving one re-sends its body and headers to the queue and then acks the dead letter,
so a failure in between leaves a copy in both places, never none. The dead letters
ahead of the chosen one count one delivery more (their brief lease). Only the first
``SCAN_LIMIT`` dead letters can be picked this way (the page lists no more).
"""

from __future__ import annotations

from meshq.api.messages import ReceivedMessage
from meshq.api.queues import QueuesClient
from meshq.studio.errors import BadInput

DLQ_SUFFIX = ".dlq"  # the server names a queue's dead-letter queue "<queue>.dlq"
LAST_ERROR_HEADER = "x-meshq-last-error"  # set by a nack that gives an error
SCAN_LIMIT = 500  # dead letters leased at most to reach the chosen one
LEASE_SECONDS = 30.0  # if the Studio dies mid-way, the others come back after this


def dlq(queue: str) -> str:
    return queue + DLQ_SUFFIX


def is_dlq(queue: str) -> bool:
    return queue.endswith(DLQ_SUFFIX)


async def _lease_until(queues: QueuesClient, queue: str,
                       message_id: str) -> tuple[ReceivedMessage, list[ReceivedMessage]]:
    """Lease dead letters, oldest first, until ``message_id``; (it, the ones before it)."""
    leased: list[ReceivedMessage] = []
    try:
        while len(leased) < SCAN_LIMIT:
            batch = await queues.receive_messages(
                dlq(queue), max_messages=min(100, SCAN_LIMIT - len(leased)), wait=False,
                lease=LEASE_SECONDS, create=False)
            if not batch:
                break
            for i, message in enumerate(batch):
                if message.message_id == message_id:
                    await _give_back(queues, queue, leased + batch[i + 1:])
                    return message, []
                leased.append(message)
    except BaseException:
        await _give_back(queues, queue, leased)
        raise
    await _give_back(queues, queue, leased)
    raise BadInput(f"dead letter {message_id} is no longer in {dlq(queue)} "
                   f"(redriven, deleted, or beyond the first {SCAN_LIMIT})")


async def _give_back(queues: QueuesClient, queue: str, messages: list[ReceivedMessage]) -> None:
    for message in messages:
        await queues.nack(dlq(queue), message.lease_token)


async def delete_one(queues: QueuesClient, queue: str, message_id: str) -> None:
    """Remove one dead letter of ``queue`` for good."""
    message, _ = await _lease_until(queues, queue, message_id)
    await queues.ack(dlq(queue), [message.lease_token])


async def redrive_one(queues: QueuesClient, queue: str, message_id: str) -> str:
    """Move one dead letter back to ``queue``; the id of the message sent there."""
    message, _ = await _lease_until(queues, queue, message_id)
    try:
        new_id = await queues.send(queue, message.body, create=False,
                                   headers=_fresh_headers(message.headers))
    except BaseException:
        await queues.nack(dlq(queue), message.lease_token)
        raise
    await queues.ack(dlq(queue), [message.lease_token])
    return new_id


def _fresh_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers minus the server's own bookkeeping (the last error, the trace parent)."""
    return {k: v for k, v in headers.items()
            if not k.startswith("x-meshq-") and k not in ("traceparent", "tracestate")}
