"""The /metrics endpoint serves a registry over real HTTP on loopback."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from meshq.core.errors import FailedPrecondition, InvalidArgument
from meshq.metrics.queue import PrometheusQueueObserver
from meshq.metrics.server import parse_listen, start_metrics_server, stop_metrics_server


def test_serves_metrics_on_a_free_port_and_stops(registry: CollectorRegistry) -> None:
    # Given a registry with one moved metric, served on port 0
    PrometheusQueueObserver(registry).sent("room-a", "jobs", 3)
    server, port = start_metrics_server("127.0.0.1:0", registry)
    try:
        # When Prometheus would scrape it
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
            content_type = response.headers["Content-Type"]
    finally:
        stop_metrics_server(server)

    # Then the exposition format carries the series; after stopping, the port is closed
    assert port > 0
    assert content_type.startswith("text/plain")
    assert 'meshq_messages_sent_total{queue="jobs",room="room-a"} 3.0' in text
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_a_port_in_use_is_a_clear_error(registry: CollectorRegistry) -> None:
    server, port = start_metrics_server("127.0.0.1:0", registry)
    try:
        with pytest.raises(FailedPrecondition, match=f"127.0.0.1:{port}"):
            start_metrics_server(f"127.0.0.1:{port}", registry)
    finally:
        stop_metrics_server(server)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        (":9464", ("0.0.0.0", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9464", "host:", "host:http", "host:70000", ""])
def test_parse_listen_refuses_bad_addresses(listen: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_listen(listen)
