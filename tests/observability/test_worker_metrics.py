"""Worker metrics move with the worker's observer calls."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from meshq.agents.observer import OUTCOMES
from meshq.metrics.worker import PrometheusWorkerObserver

from .conftest import value


def test_receive_retries_count_and_record_backoff(registry: CollectorRegistry) -> None:
    observer = PrometheusWorkerObserver(registry)

    # When a worker's stream breaks twice and it backs off 0.2 s then 40 s
    observer.receive_retry("jobs", 0.2)
    observer.receive_retry("jobs", 40.0)

    # Then both retries count, and the back-off histogram holds both waits
    assert value(registry, "meshq_worker_receive_retries_total", queue="jobs") == 2
    assert value(registry, "meshq_worker_backoff_seconds_count", queue="jobs") == 2
    assert value(registry, "meshq_worker_backoff_seconds_sum", queue="jobs") == pytest.approx(40.2)
    assert value(registry, "meshq_worker_backoff_seconds_bucket", queue="jobs", le="0.25") == 1
    assert value(registry, "meshq_worker_backoff_seconds_bucket", queue="jobs", le="60.0") == 2


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_job_outcomes_and_durations(registry: CollectorRegistry, outcome: str) -> None:
    observer = PrometheusWorkerObserver(registry)

    # When a job ends with this outcome after 1.5 s
    observer.job_finished("jobs", outcome, 1.5)

    # Then exactly that outcome counts, and its duration is recorded
    for other in OUTCOMES:
        expected = 1 if other == outcome else 0
        assert value(registry, "meshq_worker_jobs_total", queue="jobs", outcome=other) == expected
    labels = {"queue": "jobs", "outcome": outcome}
    assert value(registry, "meshq_worker_job_duration_seconds_sum", **labels) == 1.5
    assert value(registry, "meshq_worker_job_duration_seconds_bucket", **labels, le="1.0") == 0
    assert value(registry, "meshq_worker_job_duration_seconds_bucket", **labels, le="2.5") == 1


def test_llm_tokens_by_model_and_type(registry: CollectorRegistry) -> None:
    observer = PrometheusWorkerObserver(registry)

    # When two calls to one model and one to another use tokens
    observer.llm_tokens("gpt-a", 100, 20)
    observer.llm_tokens("gpt-a", 50, 0)
    observer.llm_tokens("gpt-b", 7, 3)

    # Then tokens add up per model and per type
    assert value(registry, "meshq_llm_tokens_total", model="gpt-a", type="input") == 150
    assert value(registry, "meshq_llm_tokens_total", model="gpt-a", type="output") == 20
    assert value(registry, "meshq_llm_tokens_total", model="gpt-b", type="input") == 7
    assert value(registry, "meshq_llm_tokens_total", model="gpt-b", type="output") == 3


def test_two_observers_on_one_registry_share_the_metrics(registry: CollectorRegistry) -> None:
    # Given two workers' observers on one registry (registering twice would raise)
    first, second = PrometheusWorkerObserver(registry), PrometheusWorkerObserver(registry)

    # When each records a job
    first.job_finished("jobs", "ok", 0.1)
    second.job_finished("jobs", "ok", 0.1)

    # Then the one series counts both
    assert value(registry, "meshq_worker_jobs_total", queue="jobs", outcome="ok") == 2
