"""Pool metrics move with the pool supervisor's observer calls."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from meshq.metrics.pools import PrometheusPoolObserver

from .conftest import value

POOL = {"pool": "p1", "room": "r", "queue": "jobs"}


def test_replicas_follow_each_health_pass(registry: CollectorRegistry) -> None:
    observer = PrometheusPoolObserver(registry)

    observer.replicas("p1", "r", "jobs", wanted=3, running=1)
    assert value(registry, "meshq_pool_replicas_wanted", **POOL) == 3
    assert value(registry, "meshq_pool_replicas_running", **POOL) == 1

    observer.replicas("p1", "r", "jobs", wanted=2, running=2)
    assert value(registry, "meshq_pool_replicas_wanted", **POOL) == 2
    assert value(registry, "meshq_pool_replicas_running", **POOL) == 2


def test_job_totals_become_counters_that_survive_a_pool_restart(
    registry: CollectorRegistry,
) -> None:
    observer = PrometheusPoolObserver(registry)

    # When the supervisor reports totals 5 then 8 done, then (after a restart) 2
    observer.jobs("p1", "r", "jobs", in_flight=2, done=5, failed=1)
    observer.jobs("p1", "r", "jobs", in_flight=1, done=8, failed=1)
    observer.jobs("p1", "r", "jobs", in_flight=0, done=2, failed=0)

    # Then the counter only goes up: 5 + 3 + 2; failures 1; in flight is the latest
    assert value(registry, "meshq_pool_jobs_total", **POOL, outcome="done") == 10
    assert value(registry, "meshq_pool_jobs_total", **POOL, outcome="failed") == 1
    assert value(registry, "meshq_pool_jobs_in_flight", **POOL) == 0


def test_restarts_count_and_a_removed_pool_drops_its_series(registry: CollectorRegistry) -> None:
    observer = PrometheusPoolObserver(registry)
    observer.replicas("p1", "r", "jobs", wanted=2, running=2)
    observer.jobs("p1", "r", "jobs", in_flight=0, done=4, failed=0)
    observer.restarted("p1", "r", "jobs", 0)
    observer.restarted("p1", "r", "jobs", 1)
    assert value(registry, "meshq_pool_replica_restarts_total", **POOL) == 2

    # When the pool stops
    observer.removed("p1", "r", "jobs")
    observer.removed("p1", "r", "jobs")  # twice is harmless

    # Then none of its series are exported any more
    names = {s.name for m in registry.collect() for s in m.samples if s.labels.get("pool") == "p1"}
    assert names == set()

    # And a pool re-created under the same name counts from zero
    observer.jobs("p1", "r", "jobs", in_flight=0, done=1, failed=0)
    assert value(registry, "meshq_pool_jobs_total", **POOL, outcome="done") == 1


def test_replica_activity_lands_in_the_worker_metrics_and_new_gauges_move(
    registry: CollectorRegistry,
) -> None:
    observer = PrometheusPoolObserver(registry)

    # When a pass reports the replicas' jobs, tokens and retries, one unsubscribed replica
    observer.replicas("p1", "r", "jobs", wanted=2, running=1)
    observer.worker_activity("p1", "r", "jobs", jobs=[("ok", 0.5), ("failed", 2.0)],
                             tokens=[("m", 10, 3)], retries=[0.25])
    observer.unsubscribed("p1", "r", "jobs", 1)
    observer.backend_restarted("ray")

    # Then they are the worker series a `process join` agent exports, labelled by queue
    assert value(registry, "meshq_worker_jobs_total", queue="jobs", outcome="ok") == 1
    assert value(registry, "meshq_worker_job_duration_seconds_count", queue="jobs",
                 outcome="failed") == 1
    assert value(registry, "meshq_llm_tokens_total", model="m", type="input") == 10
    assert value(registry, "meshq_worker_receive_retries_total", queue="jobs") == 1
    assert value(registry, "meshq_pool_replicas_unsubscribed", **POOL) == 1
    assert value(registry, "meshq_pool_backend_restarts_total", backend="ray") == 1
    # And the series that saw nothing exist at zero from the first pass
    assert registry.get_sample_value("meshq_worker_jobs_total",
                                     {"queue": "jobs", "outcome": "handed_back"}) == 0
    assert registry.get_sample_value("meshq_pool_replica_restarts_total", POOL) == 0
