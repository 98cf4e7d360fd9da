"""Scheduler metrics move with the scheduler's observer calls."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from meshq.metrics.scheduler import PrometheusSchedulerObserver

from .conftest import value


def test_fires_count_by_outcome_and_only_enqueued_ones_record_lag(
    registry: CollectorRegistry,
) -> None:
    observer = PrometheusSchedulerObserver(registry)

    # When two tasks of one queue fire on time-ish and one fire is skipped as a misfire
    observer.fired("r", "jobs", "task-1", "enqueued", 0.004)
    observer.fired("r", "jobs", "task-2", "enqueued", 75.0)
    observer.fired("r", "jobs", "task-1", "skipped_misfire", None)

    # Then fires count per room, queue and outcome (no task label: series do not grow with
    # the number of tasks), and the lag histogram has the two enqueued fires
    fires = {"room": "r", "queue": "jobs"}
    assert value(registry, "meshq_scheduler_fires_total", **fires, outcome="enqueued") == 2
    assert value(registry, "meshq_scheduler_fires_total", **fires, outcome="skipped_misfire") == 1
    assert registry.get_sample_value("meshq_scheduler_fires_total",
                                     {**fires, "task": "task-1", "outcome": "enqueued"}) is None
    lag = {"room": "r", "queue": "jobs"}
    assert value(registry, "meshq_scheduler_fire_lag_seconds_count", **lag) == 2
    assert value(registry, "meshq_scheduler_fire_lag_seconds_bucket", **lag, le="0.005") == 1
    assert value(registry, "meshq_scheduler_fire_lag_seconds_bucket", **lag, le="60.0") == 1
    assert value(registry, "meshq_scheduler_fire_lag_seconds_bucket", **lag, le="300.0") == 2


def test_task_counts_follow_the_latest_call(registry: CollectorRegistry) -> None:
    observer = PrometheusSchedulerObserver(registry)

    observer.tasks_changed(3, 1)
    observer.tasks_changed(2, 0)

    assert value(registry, "meshq_scheduled_tasks", state="active") == 2
    assert value(registry, "meshq_scheduled_tasks", state="inactive") == 0
