"""Hooks a worker calls at the moments worth measuring; the base does nothing.

The worker loop holds no metric code (STYLE.md item 6): a Prometheus observer
(``meshq.metrics``) subclasses this and is passed as ``Worker(observer=...)``. An observer
must not raise or block; if one raises, the worker logs it and goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

OUTCOME_OK = "ok"
OUTCOME_FAILED = "failed"
OUTCOME_HANDED_BACK = "handed_back"
OUTCOMES = (OUTCOME_OK, OUTCOME_FAILED, OUTCOME_HANDED_BACK)


class WorkerObserver:
    """No-op base: override what you want to record."""

    def worker_started(self, queue: str) -> None:
        """The worker started consuming ``queue`` (metrics create its series at zero)."""

    def receive_retry(self, queue: str, backoff_seconds: float) -> None:
        """The Subscribe stream broke; the consumer waits ``backoff_seconds`` before reopening."""

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        """A job ended as ``ok`` (acked), ``failed`` (nacked) or ``handed_back`` (on stop)."""

    def llm_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        """One model call used these tokens."""

    def job_done(self, queue: str, message_id: str, attempt: int, outcome: str,
                 seconds: float) -> None:
        """The moment of ``job_finished``, with the job's message id and attempt (for one log
        line per job: ``meshq process join`` / ``service run``)."""


class FanOutObserver(WorkerObserver):
    """Tells every observer given, in order (metrics and the per-job log line, say); one that
    raises is logged and the others are still told."""

    def __init__(self, *observers: WorkerObserver) -> None:
        self.observers = observers

    def worker_started(self, queue: str) -> None:
        for observer in self.observers:
            started = getattr(observer, "worker_started", None)
            if started is not None:
                call_hook(started, queue)

    def receive_retry(self, queue: str, backoff_seconds: float) -> None:
        for observer in self.observers:
            call_hook(observer.receive_retry, queue, backoff_seconds)

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        for observer in self.observers:
            call_hook(observer.job_finished, queue, outcome, seconds)

    def llm_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        for observer in self.observers:
            call_hook(observer.llm_tokens, model, input_tokens, output_tokens)

    def job_done(self, queue: str, message_id: str, attempt: int, outcome: str,
                 seconds: float) -> None:
        for observer in self.observers:
            call_hook(observer.job_done, queue, message_id, attempt, outcome, seconds)


def call_hook(hook: Callable[..., None], *args: object) -> None:
    """Call one observer hook; if it raises, log it and go on (the module docstring's rule)."""
    try:
        hook(*args)
    except Exception:
        logger.exception("observer.%s failed", getattr(hook, "__name__", hook))


_default: WorkerObserver | None = None


def set_default_observer(observer: WorkerObserver | None) -> None:
    """The observer of every Worker built without one in this process (``process join`` /
    ``service run --metrics-listen`` set it; user code that builds Workers needs no change)."""
    global _default
    _default = observer


def default_observer() -> WorkerObserver:
    return _default if _default is not None else WorkerObserver()
