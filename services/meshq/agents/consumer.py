"""Owns a worker's Subscribe stream: opens it, hands each delivery on, reopens it when it breaks.

A broken stream is reopened after ``ReconnectPolicy`` backoff (exponential, full jitter,
capped); a stream that stayed up ``healthy_after`` seconds or delivered a message resets the
backoff. Errors that retrying cannot fix (bad token, no permission, bad request) end the
consumer: the worker reports them instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import grpc

from meshq.agents.observer import WorkerObserver, call_hook
from meshq.agents.retry import ReconnectPolicy

logger = logging.getLogger(__name__)

TERMINAL_CODES = frozenset({
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
})


def is_retryable(err: BaseException) -> bool:
    """Whether reopening the stream can help (Pub/Sub's ``_should_recover``)."""
    code = getattr(err, "code", None)
    if isinstance(err, grpc.aio.AioRpcError) and callable(code):
        return code() not in TERMINAL_CODES
    return True


class Consumer:
    """Subscribes to one queue and calls ``on_message(msg)`` for each delivery, in order."""

    def __init__(
        self,
        *,
        room: Any,
        queue: str,
        max_in_flight: int,
        lease_seconds: float,
        on_message: Callable[[Any], None],
        reconnect: ReconnectPolicy,
        observer: WorkerObserver,
        rng: random.Random | None = None,
    ) -> None:
        self.room = room
        self.queue = queue
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self.reconnect = reconnect
        self.failures = 0
        """Consecutive failed streams (0 while healthy)."""
        self.subscribed = False
        """True while the Subscribe stream is open (the server confirmed it)."""
        self.last_error = ""
        """Why the last stream broke or could not open ("" once one is open again)."""
        self._on_message = on_message
        self._observer = observer
        self._rng = rng or random.Random()
        self._stop = asyncio.Event()
        self._subscription: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._run(), name=f"meshq-consumer-{self.queue}")
        return self._task

    async def pause(self) -> None:
        """No new deliveries (credit 0); held ones stay leased."""
        self._stop.set()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await _maybe_await(self._subscription.pause())

    async def stop(self) -> None:
        """Close the stream (the server hands unsettled deliveries back) and end the loop."""
        self._stop.set()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            opened = time.monotonic()
            delivered = False
            try:
                delivered = await self._consume()
                if self._stop.is_set():
                    return
                logger.warning("subscription to %s ended; reopening", self.queue)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if self._stop.is_set():
                    return
                self.last_error = _describe(err)
                if not is_retryable(err):
                    raise
                logger.warning("subscription to %s broke: %s", self.queue, self.last_error)
            healthy = delivered or time.monotonic() - opened >= self.reconnect.healthy_after
            self.failures = 1 if healthy else self.failures + 1
            await self._back_off()

    async def _consume(self) -> bool:
        """One stream's life; True if it delivered anything."""
        delivered = False
        async with self.room.queues.subscribe(
            name=self.queue, max_in_flight=self.max_in_flight, lease=self.lease_seconds,
            create=True,
        ) as subscription:
            self._subscription = subscription
            self.subscribed, self.last_error = True, ""
            try:
                async for message in subscription:
                    delivered = True
                    self.failures = 0
                    self._on_message(message)
            finally:
                self._subscription = None
                self.subscribed = False
        return delivered

    async def _back_off(self) -> None:
        delay = self.reconnect.delay(self.failures, self._rng)
        call_hook(self._observer.receive_retry, self.queue, delay)
        logger.info("reopening %s in %.2fs (failure %d)", self.queue, delay, self.failures)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=delay)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _describe(err: BaseException) -> str:
    if isinstance(err, grpc.aio.AioRpcError):
        return f"{err.code().name}: {err.details()}"
    return f"{type(err).__name__}: {err}"

