"""Every Prometheus metric meshq exports, in one place.

Names follow ``meshq_<thing>_<unit>`` (counters end in ``_total``, durations in ``_seconds``)
and carry ``room`` and ``queue`` labels, plus ``pool``, ``task``, ``outcome``, ``model`` or
``type`` where they fit. Metrics are bound to a registry passed in, never to the global one,
so that each test (and each server) gets a fresh set: ``new_registry()`` makes one.

The queue gauges (depth, in flight, ...) are not objects here: ``QueueStatsCollector`` reads
them from the engine at scrape time, under the names and help texts defined below.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from meshq.metrics.batch_histogram import BatchHistogram

ROOM_QUEUE = ("room", "queue")

# Time a message waits, and a delivery is held: 0.5 ms (in-process hand-off) to 30 minutes.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
# A worker's back-off between failed receives: its policy runs from ~0.1 s to a few minutes.
BACKOFF_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# A job: an LLM call takes seconds to minutes.
JOB_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
# How late a scheduled fire is: milliseconds when healthy, up to an hour after an outage.
LAG_BUCKETS = (
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip

# Queue gauges, read from the engine at scrape time: (name, help).
QUEUE_DEPTH = ("meshq_queue_depth_messages", "Messages ready for delivery, by room and queue.")
QUEUE_IN_FLIGHT = (
    "meshq_queue_in_flight_messages",
    "Messages delivered and not yet settled (leased), by room and queue.",
)
QUEUE_DELAYED = (
    "meshq_queue_delayed_messages",
    "Messages not yet visible (send delay or nack delay), by room and queue.",
)
QUEUE_DEAD_LETTERED = (
    "meshq_queue_dead_lettered_messages",
    "Messages waiting in the queue's dead-letter queue (<queue>.dlq), by room and queue.",
)
QUEUE_OLDEST_AGE = (
    "meshq_queue_oldest_message_age_seconds",
    "Age of the oldest message still in the queue (0 when empty), by room and queue.",
)
QUEUE_GAUGES = (QUEUE_DEPTH, QUEUE_IN_FLIGHT, QUEUE_DELAYED, QUEUE_DEAD_LETTERED, QUEUE_OLDEST_AGE)


def new_registry(*, process: bool = True) -> CollectorRegistry:
    """A fresh registry; with ``process`` it also has the usual process, platform and GC metrics."""
    registry = CollectorRegistry()
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        build_info(registry)
    return registry


def build_info(registry: CollectorRegistry) -> None:
    """``meshq_build_info{version="…"} 1``: which meshq this process runs (`meshq status`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        running = version("meshq")
    except PackageNotFoundError:
        running = "unknown"
    Info("meshq_build", "The meshq version this process runs", registry=registry).info(
        {"version": running})


@dataclass(frozen=True)
class QueueMetrics:
    """Pushed by ``PrometheusQueueObserver`` from the engine's hooks."""

    sent: Counter
    delivered: Counter
    redelivered: Counter
    acked: Counter
    nacked: Counter
    lease_expired: Counter
    dead_lettered: Counter
    stale_settled: Counter
    rate_limit_wait: Counter
    open_streams: Gauge
    time_in_queue: BatchHistogram
    held: BatchHistogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> QueueMetrics:
        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, ROOM_QUEUE, registry=registry)

        return cls(
            sent=counter(
                "meshq_messages_sent_total", "Messages committed by Send (duplicates excluded)."
            ),
            delivered=counter(
                "meshq_messages_delivered_total", "Deliveries handed to consumers (every attempt)."
            ),
            redelivered=counter(
                "meshq_messages_redelivered_total",
                "Deliveries of a message that was delivered before (attempt > 1).",
            ),
            acked=counter("meshq_messages_acked_total", "Acks committed."),
            nacked=counter(
                "meshq_messages_nacked_total",
                "Nacks committed, hand-backs of closed streams included.",
            ),
            lease_expired=counter(
                "meshq_lease_expirations_total",
                "Leases that expired unsettled; their messages return to the queue for redelivery.",
            ),
            dead_lettered=counter(
                "meshq_messages_dead_lettered_total",
                "Messages moved to the queue's dead-letter queue after too many deliveries.",
            ),
            stale_settled=counter(
                "meshq_stale_settles_total",
                "Acks, nacks or extensions refused because the lease token was stale or unknown.",
            ),
            rate_limit_wait=counter(
                "meshq_rate_limit_wait_seconds_total",
                "Seconds deliveries waited on the queue's rate limit (consumers ready, no token).",
            ),
            open_streams=Gauge(
                "meshq_open_streams", "Subscribe streams open now.", ROOM_QUEUE, registry=registry
            ),
            time_in_queue=BatchHistogram(
                "meshq_time_in_queue_seconds",
                "Seconds from enqueue to first delivery (a send delay counts as waiting).",
                ROOM_QUEUE,
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            held=BatchHistogram(
                "meshq_delivery_to_ack_seconds",
                "Seconds from delivery to ack.",
                ROOM_QUEUE,
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class SchedulerMetrics:
    """Pushed by ``PrometheusSchedulerObserver``."""

    fires: Counter
    lag: Histogram
    tasks: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SchedulerMetrics:
        return cls(
            fires=Counter(
                "meshq_scheduler_fires_total",
                "Scheduled-task fires by room, queue and outcome (task ids: logs and the ledger).",
                ("room", "queue", "outcome"),
                registry=registry,
            ),
            lag=Histogram(
                "meshq_scheduler_fire_lag_seconds",
                "Seconds between a fire's due time and when the scheduler sent it.",
                ROOM_QUEUE,
                buckets=LAG_BUCKETS,
                registry=registry,
            ),
            tasks=Gauge(
                "meshq_scheduled_tasks",
                "Stored scheduled tasks by state (active, inactive).",
                ("state",),
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class WorkerMetrics:
    """Pushed by ``PrometheusWorkerObserver``."""

    receive_retries: Counter
    backoff: Histogram
    jobs: Counter
    job_duration: Histogram
    llm_tokens: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        return cls(
            receive_retries=Counter(
                "meshq_worker_receive_retries_total",
                "Failed receives a worker retried after backing off.",
                ("queue",),
                registry=registry,
            ),
            backoff=Histogram(
                "meshq_worker_backoff_seconds",
                "Seconds a worker backed off before retrying a receive.",
                ("queue",),
                buckets=BACKOFF_BUCKETS,
                registry=registry,
            ),
            jobs=Counter(
                "meshq_worker_jobs_total",
                "Jobs a worker finished, by outcome (ok, failed, handed_back).",
                ("queue", "outcome"),
                registry=registry,
            ),
            job_duration=Histogram(
                "meshq_worker_job_duration_seconds",
                "Seconds a worker spent on a job, by outcome.",
                ("queue", "outcome"),
                buckets=JOB_BUCKETS,
                registry=registry,
            ),
            llm_tokens=Counter(
                "meshq_llm_tokens_total",
                "LLM tokens used by workers, by model and type (input, output).",
                ("model", "type"),
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class PoolMetrics:
    """Set by ``PrometheusPoolObserver`` after each of the supervisor's health passes."""

    wanted: Gauge
    running: Gauge
    in_flight: Gauge
    jobs: Counter
    restarts: Counter
    unsubscribed: Gauge
    backend_restarts: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PoolMetrics:
        labels = ("pool", "room", "queue")

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        return cls(
            wanted=gauge("meshq_pool_replicas_wanted", "Replicas a pool wants."),
            running=gauge("meshq_pool_replicas_running", "Replicas of a pool running and healthy."),
            in_flight=gauge("meshq_pool_jobs_in_flight", "Jobs a pool's replicas are working on."),
            jobs=Counter(
                "meshq_pool_jobs_total",
                "Jobs a pool's replicas finished, by outcome (done, failed).",
                (*labels, "outcome"),
                registry=registry,
            ),
            restarts=Counter(
                "meshq_pool_replica_restarts_total",
                "Replica processes restarted or replaced.",
                labels,
                registry=registry,
            ),
            unsubscribed=gauge(
                "meshq_pool_replicas_unsubscribed",
                "Replicas of a pool that are up but hold no open subscription (consume nothing).",
            ),
            backend_restarts=Counter(
                "meshq_pool_backend_restarts_total",
                "Times the pools' execution backend (a local Ray) died and was started again.",
                ("backend",),
                registry=registry,
            ),
        )


_M = TypeVar("_M", QueueMetrics, SchedulerMetrics, WorkerMetrics, PoolMetrics)
_made: weakref.WeakKeyDictionary[CollectorRegistry, dict[type, Any]] = weakref.WeakKeyDictionary()
_made_lock = threading.Lock()


def metrics_for(kind: type[_M], registry: CollectorRegistry) -> _M:
    """The ``kind`` metrics of ``registry``, created once: observers sharing a registry share them.

    Registering the same name twice in one registry raises, so two observers (say, one per
    component) must not each create their own.
    """
    with _made_lock:
        per_registry = _made.setdefault(registry, {})
        if kind not in per_registry:
            per_registry[kind] = kind.create(registry)
        made: _M = per_registry[kind]
        return made
