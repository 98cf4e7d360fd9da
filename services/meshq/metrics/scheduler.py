"""Scheduler metrics: fires by outcome, fire lag, and how many tasks are stored."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from meshq.metrics.definitions import SchedulerMetrics, metrics_for
from meshq.scheduler.observer import SchedulerObserver


class PrometheusSchedulerObserver(SchedulerObserver):
    """Pass as ``Settings.scheduler.observer``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._m = metrics_for(SchedulerMetrics, registry)

    def fired(
        self, room: str, queue: str, task_id: str, outcome: str, lag_seconds: float | None
    ) -> None:
        # Not labelled by task id: series would grow with the number of tasks.
        self._m.fires.labels(room, queue, outcome).inc()
        if lag_seconds is not None:
            self._m.lag.labels(room, queue).observe(max(0.0, lag_seconds))

    def tasks_changed(self, active: int, inactive: int) -> None:
        self._m.tasks.labels("active").set(active)
        self._m.tasks.labels("inactive").set(inactive)
