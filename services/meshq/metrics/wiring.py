"""What a server process (``meshq up`` / ``meshq serve``) plugs in: observers and the endpoint.

The runner calls ``with_observers(settings, registry)`` on ``StackConfig.settings`` before
the components are built, then ``serve_metrics`` once the queue engine exists.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from meshq.metrics.pools import PrometheusPoolObserver
from meshq.metrics.queue import PrometheusQueueObserver, QueueStatsCollector
from meshq.metrics.scheduler import PrometheusSchedulerObserver
from meshq.metrics.server import start_metrics_server
from meshq.metrics.worker import PrometheusWorkerObserver
from meshq.server.settings import Settings

if TYPE_CHECKING:
    from meshq.queue.engine import QueueEngine


def with_observers(settings: Settings, registry: CollectorRegistry) -> Settings:
    """``settings`` with a Prometheus observer on ``registry`` wherever none was given."""
    queue, scheduler, pools, metrics = (
        settings.queue, settings.scheduler, settings.pools, settings.metrics)
    if queue.observer is None:
        queue = replace(queue, observer=PrometheusQueueObserver(registry))
    if scheduler.observer is None:
        scheduler = replace(scheduler, observer=PrometheusSchedulerObserver(registry))
    if pools.observer is None:
        pools = replace(pools, observer=PrometheusPoolObserver(registry))
    if metrics.worker_observer is None:
        metrics = replace(metrics, worker_observer=PrometheusWorkerObserver(registry))
    return replace(settings, queue=queue, scheduler=scheduler, pools=pools, metrics=metrics)


def serve_metrics(
    listen: str,
    registry: CollectorRegistry,
    engine: QueueEngine | None,
    loop: asyncio.AbstractEventLoop,
) -> tuple[WSGIServer, int]:
    """Add the queue gauges of ``engine`` (if this process hosts one) and serve ``/metrics``."""
    if engine is not None:
        registry.register(QueueStatsCollector(engine, loop=loop))
    return start_metrics_server(listen, registry)


def serve_worker_metrics(
    listen: str, *, public: bool = False
) -> tuple[PrometheusWorkerObserver, WSGIServer, int]:
    """For a process that only runs workers: a worker observer and its ``/metrics`` endpoint
    (beyond loopback only when ``public``)."""
    from meshq.metrics.definitions import new_registry

    registry = new_registry()
    server, port = start_metrics_server(listen, registry, public=public)
    return PrometheusWorkerObserver(registry), server, port
