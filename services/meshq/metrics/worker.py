"""Worker metrics: receive retries and back-off, job outcomes and durations, LLM tokens."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from meshq.agents.observer import OUTCOMES, WorkerObserver
from meshq.metrics.definitions import WorkerMetrics, metrics_for


class PrometheusWorkerObserver(WorkerObserver):
    """Pass as ``Worker(observer=...)`` (or ``ctx.settings["worker_observer"]``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._m = metrics_for(WorkerMetrics, registry)

    def worker_started(self, queue: str) -> None:
        """Every series of ``queue`` at zero, so dashboards and alerts have data (a rate of
        0, not "no data") before the first job, retry or failure."""
        m = self._m
        m.receive_retries.labels(queue)
        m.backoff.labels(queue)
        for outcome in OUTCOMES:
            m.jobs.labels(queue, outcome)
            m.job_duration.labels(queue, outcome)

    def receive_retry(self, queue: str, backoff_seconds: float) -> None:
        self._m.receive_retries.labels(queue).inc()
        self._m.backoff.labels(queue).observe(max(0.0, backoff_seconds))

    def job_finished(self, queue: str, outcome: str, seconds: float) -> None:
        self._m.jobs.labels(queue, outcome).inc()
        self._m.job_duration.labels(queue, outcome).observe(max(0.0, seconds))

    def llm_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        tokens = self._m.llm_tokens
        if input_tokens > 0:
            tokens.labels(model, "input").inc(input_tokens)
        if output_tokens > 0:
            tokens.labels(model, "output").inc(output_tokens)
