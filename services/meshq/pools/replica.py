"""One replica: build the Worker, connect it to the room, run it, report, stop it.

The same runner lives inside a Ray actor (``ray_backend``) and inside an asyncio task
(``asyncio_backend``), so both backends behave alike. A worker that cannot be built or started
leaves the replica in state "failed" with the error, instead of crashing its process (a Ray
actor whose constructor raises is dead for good, and the error would be lost).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections import deque
from typing import Any

from meshq.agents.observer import WorkerObserver, call_hook
from meshq.pools.model import (
    FAILED,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    SUBSCRIBING,
    ReplicaSpec,
    ReplicaStatus,
)
from meshq.pools.workerspec import build_worker

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000  # error text a status carries (long enough for whole import errors)
MAX_PENDING_JOBS = 10_000  # finished jobs a replica keeps for the next status call, at most
STOP_MARGIN = 5.0  # seconds beyond the grace a worker's stop() may take before it is abandoned


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]


def _worker_running(worker: Any) -> bool:
    """The Worker's own "started and not stopping" flag (True if it has none)."""
    for attr in ("is_running", "started"):
        value = getattr(worker, attr, None)
        if isinstance(value, bool):
            return value
    return True


class ActivityRecorder(WorkerObserver):
    """Keeps what the worker did until the supervisor's next status call takes it, and passes
    every hook on to the worker's own observer.

    A replica runs in another process (a Ray actor): the service process exports its job
    durations and LLM tokens, with the pool's labels, from what each status call carries."""

    def __init__(self, inner: WorkerObserver) -> None:
        self.inner = inner
        self._jobs: deque[tuple[str, float]] = deque(maxlen=MAX_PENDING_JOBS)
        self._tokens: dict[str, list[int]] = {}
        self._retries: deque[float] = deque(maxlen=MAX_PENDING_JOBS)

    def worker_started(self, queue: str) -> None:
        call_hook(self.inner.worker_started, queue)

    def receive_retry(self, queue: str, backoff_seconds: float) -> None:
        self._retries.append(backoff_seconds)
        call_hook(self.inner.receive_retry, queue, backoff_seconds)

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        self._jobs.append((outcome, seconds))
        call_hook(self.inner.job_finished, queue, outcome, seconds)

    def job_done(self, queue: str, message_id: str, attempt: int, outcome: str,
                 seconds: float) -> None:
        call_hook(self.inner.job_done, queue, message_id, attempt, outcome, seconds)

    def llm_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        counts = self._tokens.setdefault(model, [0, 0])
        counts[0] += max(0, input_tokens)
        counts[1] += max(0, output_tokens)
        call_hook(self.inner.llm_tokens, model, input_tokens, output_tokens)

    def take(self) -> dict[str, tuple[Any, ...]]:
        """What happened since the last call (as ``ReplicaStatus`` fields), and forget it."""
        taken = {"jobs": tuple(self._jobs), "retries": tuple(self._retries),
                 "tokens": tuple((m, i, o) for m, (i, o) in self._tokens.items())}
        self._jobs.clear()
        self._retries.clear()
        self._tokens.clear()
        return taken


class ReplicaRunner:
    """Runs one Worker for one pool replica."""

    def __init__(self, spec: ReplicaSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.incarnation = uuid.uuid4().hex
        self._state = STARTING
        self._error = ""
        self._worker: Any = None
        self._room: Any = None
        self._recorder: ActivityRecorder | None = None

    async def start(self) -> None:
        """Build the worker and start consuming; on failure record the error, never raise."""
        try:
            self._worker = build_worker(self.spec.worker)
            if isinstance(getattr(self._worker, "observer", None), WorkerObserver):
                self._recorder = ActivityRecorder(self._worker.observer)
                self._worker.observer = self._recorder
            self._room = self._open_room()
            await self._worker.start(self._room)
        except Exception as err:
            self._state = FAILED
            self._error = _error_text(err)
            logger.error("pool %s replica %d cannot start its worker: %s", self.spec.pool,
                         self.index, self._error)
            await self._close_room()
            return
        if self._state == STARTING:
            self._state = RUNNING

    def _open_room(self) -> Any:
        from meshq.api.rooms import RoomClient

        connect = self.spec.connect
        return RoomClient(room=self.spec.worker.room, server=connect.server_address,
                          token=connect.token or None, tls_ca=connect.tls_ca or None,
                          insecure=not connect.tls_ca)

    async def _close_room(self) -> None:
        if self._room is not None:
            try:
                await self._room.close()
            except Exception:
                logger.exception("closing the room client failed")
            self._room = None

    def status(self) -> ReplicaStatus:
        stats = getattr(self._worker, "stats", None)
        state = self._state
        last_error = self._error or (getattr(stats, "last_error", None) or "")
        if state == RUNNING and not _worker_running(self._worker):
            state = FAILED  # the worker stopped itself on a terminal consumer error
        elif state == RUNNING and getattr(self._worker, "subscribed", True) is False:
            state = SUBSCRIBING  # up, but consuming nothing: say why
            last_error = getattr(self._worker, "subscription_error", "") or last_error
        activity = self._recorder.take() if self._recorder is not None else {}
        return ReplicaStatus(
            state=state,
            in_flight=int(getattr(stats, "in_flight", 0)),
            done=int(getattr(stats, "done", 0)),
            failed=int(getattr(stats, "failed", 0)),
            last_error=str(last_error)[:MAX_ERROR_CHARS],
            incarnation=self.incarnation,
            pid=os.getpid(),
            **activity,
        )

    async def stop(self, grace: float) -> ReplicaStatus:
        """Stop taking work; running jobs get ``grace`` seconds; the rest are handed back."""
        if self._state in (STOPPING, STOPPED):
            return self.status()
        self._state = STOPPING
        try:
            if self._worker is not None:
                await self._bounded_stop(grace)
        except Exception as err:
            self._error = _error_text(err)
            logger.exception("pool %s replica %d: stopping the worker failed", self.spec.pool,
                             self.index)
        finally:
            await self._close_room()
            self._state = STOPPED
        return self.status()

    async def _bounded_stop(self, grace: float) -> None:
        """``worker.stop(grace)``, abandoned if it overruns the grace by STOP_MARGIN (a stuck
        stop must not block a scale-down or StopPool; unsettled jobs come back by lease)."""
        task = asyncio.get_running_loop().create_task(self._worker.stop(grace=grace))
        done, _ = await asyncio.wait({task}, timeout=grace + STOP_MARGIN)
        if not done:
            task.cancel()
            raise TimeoutError(f"worker.stop() overran its {grace:g}s grace by {STOP_MARGIN:g}s")
        task.result()
