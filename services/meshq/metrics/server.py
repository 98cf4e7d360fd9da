"""The Prometheus ``/metrics`` endpoint of a meshq process (``meshq up --metrics-listen``).

prometheus-client's WSGI server runs on its own daemon thread, so a scrape is served even
while the event loop is busy; the queue gauges hop onto the loop themselves
(``QueueStatsCollector(loop=...)``).
"""

from __future__ import annotations

import ipaddress
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


def check_metrics_listen(listen: str, *, public: bool = False) -> tuple[str, int]:
    """(host, port) of ``listen``, refused beyond loopback unless ``public``.

    /metrics has no authentication and names every room and queue with its counts, so, as
    plaintext gRPC needs --insecure, serving it to other machines needs --metrics-public.
    An empty host binds every interface, so it is not loopback.
    """
    host, port = parse_listen(listen)
    if not public and not _loopback_host(host):
        raise FailedPrecondition(
            f"refusing /metrics on {listen}: it is unauthenticated and names every room and "
            "queue; listen on 127.0.0.1, or pass --metrics-public")
    return host, port


def _loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_metrics_server(
    listen: str, registry: CollectorRegistry, *, public: bool = False
) -> tuple[WSGIServer, int]:
    """Serve ``registry`` on ``http://<listen>/metrics``; returns the server and its bound port.

    A non-loopback ``listen`` needs ``public`` (``check_metrics_listen``)."""
    host, port = check_metrics_listen(listen, public=public)
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


def metrics_url(metrics_listen: str, metrics_port: int) -> str:
    """The stack's /metrics URL as a local client reaches it ("" without metrics)."""
    if not metrics_listen or not metrics_port:
        return ""
    host = metrics_listen.rsplit(":", 1)[0].strip("[]")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{metrics_port}/metrics" if ":" in host \
        else f"http://{host}:{metrics_port}/metrics"
