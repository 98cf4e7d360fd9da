"""``Worker``: an agent that takes jobs from a room queue and does them in the background.

The reference's shape (constructor, ``start`` / ``stop`` / ``run`` / ``room``, the hooks
``decode_message``, ``append_message_context``, ``process_message``, ``init_chat_context``)
over meshq's streaming, leased delivery:

- a ``Consumer`` holds one Subscribe stream with credit = ``concurrency`` and reopens it with
  capped, jittered backoff;
- a ``Leaser`` extends the lease of every held job while it waits or runs;
- a job that returns is acked; one that raises (a hook, a tool, the model) is nacked with the
  ``RetryPolicy`` delay (or, when the model answered 429, its Retry-After) and the error text, and the queue's ``max_deliveries`` dead-letters it;
- ``stop()`` returns at once when idle; otherwise it stops taking work, gives running jobs
  ``stop_grace`` seconds, then hands the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from meshq.agents.chat import ChatContext
from meshq.agents.consumer import Consumer
from meshq.agents.leaser import Leaser
from meshq.agents.llm import LLMAdapter, ToolResponseAdapter
from meshq.agents.observer import (
    OUTCOME_FAILED,
    OUTCOME_HANDED_BACK,
    OUTCOME_OK,
    WorkerObserver,
    call_hook,
    default_observer,
)
from meshq.agents.requirements import Requirement, resolve_requirements
from meshq.agents.retry import ReconnectPolicy, RetryPolicy, retry_after_seconds
from meshq.otel.tracing import job_span
from meshq.tools import Toolkit

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0  # a dead worker's jobs come back within this; running ones are extended
DEFAULT_STOP_GRACE = 10.0  # seconds running jobs get to finish on stop() before being handed back
SETTLE_TIMEOUT = 5.0  # an ack / nack that takes longer is abandoned (the lease settles it)
MAX_ERROR_CHARS = 2000  # error text kept in the message's x-meshq-last-error header
CANCELLED_JOB = "CancelledError: the job was cancelled from inside"


@dataclass
class WorkerStats:
    """What a worker has done since it started."""

    in_flight: int = 0
    """Jobs running now."""
    done: int = 0
    """Jobs acked."""
    failed: int = 0
    """Job attempts that raised (and were nacked)."""
    handed_back: int = 0
    """Jobs returned unfinished (stop, or a lost lease)."""
    last_error: str | None = None
    """The newest failure's text."""


class Worker:
    """Consumes ``queue`` in a room and runs each job through the hooks (module docstring)."""

    def __init__(
        self,
        *,
        queue: str | None,
        llm_adapter: LLMAdapter | None = None,
        tool_adapter: ToolResponseAdapter | None = None,
        toolkits: Sequence[Toolkit] | None = None,
        rules: Sequence[str] | None = None,
        requires: Sequence[Requirement] | None = None,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        labels: Sequence[str] | None = None,
        concurrency: int = 1,
        retry: RetryPolicy | None = None,
        reconnect: ReconnectPolicy | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        stop_grace: float = DEFAULT_STOP_GRACE,
        observer: WorkerObserver | None = None,
        room: Any = None,
    ) -> None:
        if not queue:
            raise ValueError("Worker needs a queue name (is $WORKER_QUEUE set?)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if lease_seconds <= 0 or stop_grace < 0:
            raise ValueError("lease_seconds must be > 0 and stop_grace >= 0")
        if llm_adapter is None and type(self).process_message is Worker.process_message:
            raise ValueError("Worker needs an llm_adapter unless a subclass overrides "
                             "process_message")
        self.queue = queue
        self.llm_adapter = llm_adapter
        self.tool_adapter = tool_adapter
        self.toolkits = list(toolkits or [])
        self.rules = list(rules or [])
        self.requires = list(requires or [])
        self.name = name or f"worker-{queue}"
        self.title = title or self.name
        self.description = description or ""
        self.labels = list(labels or [])
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.reconnect = reconnect or ReconnectPolicy()
        self.lease_seconds = lease_seconds
        self.stop_grace = stop_grace
        self.observer = observer or default_observer()
        self.stats = WorkerStats()
        self._room = room
        self._required: list[Toolkit] = []
        self._rng = random.Random()
        self._slots = asyncio.Semaphore(concurrency)
        self._jobs: set[asyncio.Task[None]] = set()
        self._running: set[asyncio.Task[None]] = set()
        self._consumer: Consumer | None = None
        self._consumer_task: asyncio.Task[None] | None = None
        self._leaser: Leaser | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def room(self) -> Any:
        """The ``RoomClient`` this worker serves (None before ``start``)."""
        return self._room

    @property
    def is_running(self) -> bool:
        """Started and not stopping."""
        return self._consumer is not None and not self._stopping

    @property
    def subscribed(self) -> bool:
        """True while the worker's Subscribe stream is open (it can receive jobs)."""
        return self._consumer is not None and self._consumer.subscribed

    @property
    def subscription_error(self) -> str:
        """Why the stream is not open ("" when it is, or when no attempt failed yet)."""
        return self._consumer.last_error if self._consumer is not None else ""

    async def start(self, room: Any = None) -> None:
        """Resolve requirements and check the LLM adapter (an unknown toolkit or a missing
        API key raises here, not in every job), then start consuming."""
        if self._consumer is not None:
            raise RuntimeError(f"worker {self.name} is already started")
        room = room if room is not None else self._room
        if room is None:
            raise ValueError("start(room) needs a RoomClient")
        self._required = resolve_requirements(self.requires)
        if self.llm_adapter is not None:
            await self.llm_adapter.start()
        self._room = room
        self._stopping = False
        self._stopped.clear()
        self._leaser = Leaser(lease_seconds=self.lease_seconds)
        self._leaser.start()
        self._consumer = Consumer(
            room=room, queue=self.queue, max_in_flight=self.concurrency,
            lease_seconds=self.lease_seconds, on_message=self._dispatch,
            reconnect=self.reconnect, observer=self.observer, rng=self._rng,
        )
        self._consumer_task = self._consumer.start()
        self._consumer_task.add_done_callback(self._consumer_ended)
        started = getattr(self.observer, "worker_started", None)  # observers may predate it
        if started is not None:
            call_hook(started, self.queue)
        logger.info("worker %s consuming %s (concurrency %d)", self.name, self.queue,
                    self.concurrency)

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work; running jobs get ``grace`` seconds, then are handed back.

        Returns at once when idle. Safe to call twice, and from a worker that never started.
        """
        if self._stopping:
            await self._stopped.wait()
            return
        if self._consumer is None:
            return
        self._stopping = True
        grace = self.stop_grace if grace is None else grace
        await self._consumer.pause()
        waiting = self._jobs - self._running
        for job in waiting:  # held but not started: back to the queue now
            job.cancel()
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        await self._consumer.stop()
        if self._leaser is not None:
            await self._leaser.stop()
        logger.info("worker %s stopped (%s)", self.name, self.stats)
        self._consumer = None
        self._stopping = False
        self._stopped.set()

    async def run(self, room: Any = None) -> None:
        """Start and serve until ``stop()``; raises if the consumer died of a terminal error."""
        if self._consumer is None:
            await self.start(room)
        await self._stopped.wait()
        task = self._consumer_task
        if task is not None and task.done() and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]

    @contextlib.asynccontextmanager
    async def serving(self, room: Any) -> AsyncIterator[Worker]:
        """``async with worker.serving(room):`` starts it, and stops it on the way out."""
        await self.start(room)
        try:
            yield self
        finally:
            await self.stop()

    async def __aenter__(self) -> Worker:
        if self._consumer is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _consumer_ended(self, task: asyncio.Task[None]) -> None:
        """A consumer that died of a terminal error stops the whole worker (STYLE.md item 9)."""
        if task.cancelled() or task.exception() is None or self._stopping:
            return
        err = task.exception()
        self.stats.last_error = f"consumer: {err}"
        logger.error("worker %s cannot consume %s: %s", self.name, self.queue, err)
        asyncio.get_running_loop().create_task(self.stop(grace=0), name="meshq-worker-stop")

    # -- hooks -----------------------------------------------------------------------------

    def decode_message(self, message: Any) -> Any:
        """Normalise a payload: an object stays as is; text or any other value becomes
        ``{"prompt": value}`` (a JSON-object string is parsed)."""
        if isinstance(message, dict):
            return message
        if isinstance(message, str):
            with contextlib.suppress(ValueError):
                parsed = json.loads(message)
                if isinstance(parsed, dict):
                    return parsed
        return {"prompt": message}

    def init_chat_context(self) -> ChatContext:
        """A fresh, empty chat context for one job."""
        return ChatContext()

    async def append_message_context(self, *, room: Any, message: Any,
                                     chat_context: ChatContext) -> None:
        """Put the job into the context: by default the message as JSON in a user message."""
        chat_context.append_user_message(json.dumps(message, ensure_ascii=False))

    async def process_message(self, *, chat_context: ChatContext, room: Any, message: Any,
                              toolkits: Sequence[Toolkit]) -> Any:
        """Do the job: by default the LLM adapter runs the context with the toolkits."""
        if self.llm_adapter is None:
            raise RuntimeError(f"worker {self.name} has no llm_adapter")
        model = message.get("model") if isinstance(message, dict) else None
        return await self.llm_adapter.next(
            context=chat_context, room=room, toolkits=toolkits, tool_adapter=self.tool_adapter,
            model=model if isinstance(model, str) else None, observer=self.observer,
        )

    # -- one job ---------------------------------------------------------------------------

    def _dispatch(self, msg: Any) -> None:
        """Called by the consumer per delivery: hold it (lease extended) until a slot frees."""
        if self._stopping or self._leaser is None:
            return  # not taken: closing the stream hands it back
        self._leaser.add(msg)
        job = asyncio.get_running_loop().create_task(self._hold(msg),
                                                     name=f"meshq-job-{msg.message_id}")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _hold(self, msg: Any) -> None:
        started = time.monotonic()
        try:
            async with self._slots:
                if self._stopping:
                    raise asyncio.CancelledError
                job = asyncio.current_task()
                assert job is not None
                self._running.add(job)
                self.stats.in_flight += 1
                try:
                    outcome = await self._attempt(msg)
                finally:
                    self.stats.in_flight -= 1
                    self._running.discard(job)
        except asyncio.CancelledError:
            if not self._stopping:
                # Cancelled from inside the job (not by stop()): a failed attempt, said so.
                await self._settle(msg, "nack", delay=0.0, error=CANCELLED_JOB)
            # On stop() the delivery is left unsettled: closing the stream hands it back with
            # its attempt count unchanged (a nack would charge it a failed delivery and, with
            # stops repeated, dead-letter a job that never failed).
            outcome = OUTCOME_HANDED_BACK
        finally:
            if self._leaser is not None:
                self._leaser.remove(msg)
        self._finished(outcome, time.monotonic() - started, msg)

    async def _attempt(self, msg: Any) -> str:
        """Run the hooks for one delivery, then ack or nack it; the outcome."""
        attributes: dict[str, str | int] = {"meshq.queue": self.queue, "meshq.worker": self.name,
                                            "meshq.message_id": msg.message_id,
                                            "meshq.attempt": int(msg.attempt)}
        try:
            with job_span("meshq.job", msg.headers or {}, **attributes):
                await self._process(msg)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]
            delay = retry_after_seconds(err)  # a 429's Retry-After wins over the backoff
            if delay is None:
                delay = self.retry.delay(int(msg.attempt or 1), self._rng)
            logger.warning("job %s failed on attempt %s, retry in %.2fs: %s", msg.message_id,
                           msg.attempt, delay, reason,
                           exc_info=err if getattr(err, "log_traceback", True) else None,
                           extra={"queue": self.queue, "message_id": msg.message_id})
            self.stats.failed += 1
            self.stats.last_error = reason
            await self._settle(msg, "nack", delay=delay, error=reason)
            return OUTCOME_FAILED
        if await self._settle(msg, "ack"):
            self.stats.done += 1
            return OUTCOME_OK
        return OUTCOME_HANDED_BACK

    async def _process(self, msg: Any) -> Any:
        """The reference's processing flow, steps 2-4."""
        message = self.decode_message(msg.body)
        chat_context = self.init_chat_context()
        if inspect.isawaitable(chat_context):
            chat_context = await chat_context
        chat_context.append_rules(self.rules)
        chat_context.metadata.setdefault("caller", self.name)
        chat_context.metadata.setdefault("message_id", msg.message_id)
        toolkits = [*self._required, *self.toolkits]
        await self.append_message_context(room=self._room, message=message,
                                          chat_context=chat_context)
        return await self.process_message(chat_context=chat_context, room=self._room,
                                          message=message, toolkits=toolkits)

    async def _settle(self, msg: Any, how: str, **kwargs: Any) -> bool:
        """Ack or nack; False when it did not apply (the stream broke or the lease was lost:
        the queue redelivers the job, at least once)."""
        try:
            call = msg.ack() if how == "ack" else msg.nack(**kwargs)
            result = await asyncio.shield(asyncio.wait_for(call, SETTLE_TIMEOUT))
        except Exception as err:
            logger.warning("could not %s job %s (it will be redelivered): %s", how,
                           msg.message_id, err)
            return False
        return result is not False

    def _finished(self, outcome: str, seconds: float, msg: Any) -> None:
        if outcome == OUTCOME_HANDED_BACK:
            self.stats.handed_back += 1
        call_hook(self.observer.job_finished, self.queue, outcome, seconds)
        call_hook(self.observer.job_done, self.queue, msg.message_id, int(msg.attempt or 0),
                  outcome, seconds)
