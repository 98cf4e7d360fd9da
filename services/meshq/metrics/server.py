"""The Prometheus ``/metrics`` endpoint of a meshq process (``meshq up --metrics-listen``).

prometheus-client's WSGI server runs on its own daemon thread, so a scrape is served even
while the event loop is busy; the queue gauges hop onto the loop themselves
(``QueueStatsCollector(loop=...)``).
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from meshq.core.errors import FailedPrecondition, InvalidArgument

logger = logging.getLogger(__name__)


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` (``[v6]:port`` too) -> (host, port); port 0 means any free port."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidArgument(f"metrics listen address must be host:port, got {listen!r}")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port_text)


def start_metrics_server(listen: str, registry: CollectorRegistry) -> tuple[WSGIServer, int]:
    """Serve ``registry`` on ``http://<listen>/metrics``; returns the server and its bound port."""
    host, port = parse_listen(listen)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as err:
        raise FailedPrecondition(f"cannot serve metrics on {listen}: {err.strerror}") from err
    bound = int(server.server_address[1])
    logger.info("metrics on http://%s:%d/metrics", host, bound)
    return server, bound


def stop_metrics_server(server: WSGIServer) -> None:
    """Stop serving and close the socket. Blocks up to ~0.5 s: from async code use a thread."""
    server.shutdown()
    server.server_close()
