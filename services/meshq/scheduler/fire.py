"""One pass of fires: ledger rows first, then the sends, then the outcomes.

The order is what makes a fire exactly-once across crashes:

1. ``record``: SENDING rows (and skip rows) inserted and task cursors moved, in one
   transaction. Before it commits, nothing happened: a restart sees the instant as due.
2. ``send_many`` with ``dedup_id = "<task id>@<instant>"``: durable on return.
3. ``settle``: outcomes and message ids. A crash between 1 and 3 leaves SENDING rows, which
   ``Engine.start`` re-sends with the same dedup id: the queue returns the first message's id
   and enqueues nothing new, so the repair is idempotent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

from meshq.core.errors import MeshqError, Unavailable
from meshq.otel import tracing
from meshq.scheduler.cron import iso_ms
from meshq.scheduler.enqueuer import Enqueuer, Outgoing, RoomGone
from meshq.scheduler.model import SCHEDULED_AT_HEADER, TASK_ID_HEADER, RunOutcome, Task, TaskRun

logger = logging.getLogger(__name__)

_new = tuple.__new__
SEND_CHUNK = 1000  # most messages in one send call (the queue engine's default max_batch)


def dedup_id(task_id: str, scheduled_ms: int) -> str:
    """The fire's dedup id: the same on every retry and after every restart."""
    return f"{task_id}@{iso_ms(scheduled_ms)}"


def jitter_delay(task: Task, scheduled_ms: int) -> float:
    """A stable pseudo-random delay in [0, jitter): the same for a fire after a restart."""
    if task.spec.jitter_seconds <= 0:
        return 0.0
    digest = hashlib.sha256(dedup_id(task.id, scheduled_ms).encode()).digest()
    return task.spec.jitter_seconds * int.from_bytes(digest[:8], "big") / 2**64


def message_for(task: Task, scheduled_ms: int) -> Outgoing:
    """The message of one fire: the payload, with headers naming the task and the instant."""
    headers = {TASK_ID_HEADER: task.id, SCHEDULED_AT_HEADER: iso_ms(scheduled_ms)}
    tracing.inject(headers)
    return Outgoing(body=task.spec.payload_json, headers=headers,
                    dedup_id=dedup_id(task.id, scheduled_ms),
                    delay_seconds=jitter_delay(task, scheduled_ms))


@dataclass(slots=True)
class Pending:
    """A SENDING row and the task it belongs to."""

    task: Task
    run: TaskRun
    message: Outgoing | None = None
    """The message prepared before the instant was due (None: build it now)."""


@dataclass
class Settled:
    """What a batch of sends turned into."""

    runs: list[TaskRun]
    """Final rows (ENQUEUED or FAILED)."""
    retry: list[Pending]
    """Rows left SENDING because the queue service was unavailable."""
    committed_at_ms: dict[tuple[str, int], int]
    """When each enqueued row's send returned, for the fire-lag figure."""
    room_gone: list[str] = field(default_factory=list)
    """Tasks whose room no longer exists (their fires failed): to deactivate."""


SendResults = list[tuple[Sequence[Pending], list[str] | MeshqError, int]]
"""What ``send_all`` returns: per send call, its rows, the message ids or the error, and when
the call returned (ms)."""


async def send_all(enqueuer: Enqueuer, pending: Sequence[Pending],
                   now_ms: Callable[[], int]) -> SendResults:
    """Send SENDING rows grouped by (room, queue), up to ``SEND_CHUNK`` messages per call, all
    calls concurrently. A row's commit time is when its call returned.

    The results stay raw: ``classify`` turns them into final rows once every send of a burst
    has returned, so that work does not delay the burst's later sends."""
    groups: dict[tuple[str, str], list[Pending]] = defaultdict(list)
    for item in pending:
        groups[(item.task.spec.room, item.run.queue)].append(item)
    chunks = [(room, queue, items[i:i + SEND_CHUNK])
              for (room, queue), items in groups.items()
              for i in range(0, len(items), SEND_CHUNK)]
    results = await asyncio.gather(*(_send_chunk(enqueuer, room, queue, items, now_ms)
                                     for room, queue, items in chunks))
    return [(items, result, done_ms)
            for (_room, _queue, items), (result, done_ms) in zip(chunks, results, strict=True)]


def classify(parts: Iterable[SendResults]) -> Settled:
    """The final rows of sends (of one ``send_all`` or of every chunk of a burst)."""
    settled = Settled(runs=[], retry=[], committed_at_ms={})
    runs, committed = settled.runs, settled.committed_at_ms
    for items, result, done_ms in chain.from_iterable(parts):
        if isinstance(result, Unavailable):
            settled.retry.extend(items)
            continue
        if isinstance(result, RoomGone):
            settled.room_gone.extend(item.run.task_id for item in items)
        if isinstance(result, MeshqError):
            runs.extend(_final(item.run, RunOutcome.FAILED, done_ms, error=result.message)
                        for item in items)
            continue
        for item, message_id in zip(items, result, strict=True):
            run = item.run
            runs.append(_final(run, RunOutcome.ENQUEUED, done_ms, message_id=message_id))
            committed[(run.task_id, run.scheduled_ms)] = done_ms
    return settled


def _final(run: TaskRun, outcome: RunOutcome, done_ms: int, *, message_id: str = "",
           error: str = "") -> TaskRun:
    """The settled row (by position: ``_replace`` or keywords cost ~3x per row)."""
    return _new(TaskRun, (run.task_id, run.scheduled_ms, done_ms, outcome, run.queue, message_id,
                          error, run.manual))


async def _send_chunk(enqueuer: Enqueuer, room: str, queue: str, items: Sequence[Pending],
                      now_ms: Callable[[], int]) -> tuple[list[str] | MeshqError, int]:
    messages = [item.message or message_for(item.task, item.run.scheduled_ms) for item in items]
    try:
        ids = await enqueuer.send_many(room, queue, messages)
        return ids, now_ms()
    except MeshqError as err:
        if not isinstance(err, Unavailable):
            logger.warning("scheduled send to %s/%s failed: %s", room, queue, err.message)
        return err, now_ms()
    except Exception as err:  # an enqueuer bug must not kill the loop; the rows are retried
        logger.exception("scheduled send to %s/%s raised", room, queue)
        return Unavailable(f"send raised {type(err).__name__}"), now_ms()
