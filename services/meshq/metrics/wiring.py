"""What a server process (``meshq up`` / ``meshq serve``) plugs in: observers and the endpoint.

The lead's runner calls ``observer_settings(registry)`` into ``StackConfig.settings`` before
the components are built, then ``serve_metrics`` once the queue engine exists.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from meshq.metrics.pools import PrometheusPoolObserver
from meshq.metrics.queue import PrometheusQueueObserver, QueueStatsCollector
from meshq.metrics.scheduler import PrometheusSchedulerObserver
from meshq.metrics.server import start_metrics_server
from meshq.metrics.worker import PrometheusWorkerObserver

if TYPE_CHECKING:
    from meshq.queue.engine import QueueEngine


def observer_settings(registry: CollectorRegistry) -> dict[str, Any]:
    """Each component's observer under the settings key its ``build_component`` reads."""
    return {
        "queue_observer": PrometheusQueueObserver(registry),
        "scheduler_observer": PrometheusSchedulerObserver(registry),
        "worker_observer": PrometheusWorkerObserver(registry),
        "pool_observer": PrometheusPoolObserver(registry),
    }


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
