"""otel_config: no-op by default, OTLP/HTTP export when the standard endpoint is set.

Each case runs in a child process: OpenTelemetry allows one global provider per process, and
the endpoint is an environment variable, as an operator would set it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SCRIPT = """
import logging, sys
from opentelemetry import trace
from meshq.otel import otel_config
from meshq.otel.tracing import send_span
provider = otel_config(service_name="svc-under-test")
with send_span("send from child", {}):
    pass
print(type(provider).__name__, type(trace.get_tracer_provider()).__name__)
"""


class _Collector(ThreadingHTTPServer):
    """A local OTLP/HTTP receiver: keeps every export request it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, bytes]] = []


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert isinstance(self.server, _Collector)
        self.server.requests.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_child(env_changes: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-c", prelude + SCRIPT],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


def test_without_an_endpoint_tracing_stays_a_no_op() -> None:
    # When a service configures OpenTelemetry with no OTLP endpoint set
    child = _run_child({})

    # Then no SDK provider is installed: the API's proxy (no-op) tracer provider remains
    assert child.stdout.split() == ["NoneType", "ProxyTracerProvider"]


def test_with_an_endpoint_spans_are_exported_over_otlp_http(collector: _Collector) -> None:
    # Given the standard endpoint variable pointing at a local OTLP/HTTP receiver
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"

    # When a service configures OpenTelemetry and makes a span, then exits
    child = _run_child({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})

    # Then the span reached the receiver under the service's name
    assert child.stdout.split() == ["TracerProvider", "TracerProvider"]
    paths = {path for path, _ in collector.requests}
    assert paths == {"/v1/traces"}
    exported = ExportTraceServiceRequest()
    exported.ParseFromString(collector.requests[0][1])
    (resource_spans,) = exported.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "svc-under-test"
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    assert names == ["send from child"]


def test_a_missing_exporter_package_warns_once_and_continues() -> None:
    # Given the OTLP exporter package is not importable
    hide_exporter = (
        "import sys; sys.modules['opentelemetry.exporter.otlp.proto.http.trace_exporter'] = None\n"
    )

    # When a service configures OpenTelemetry with an endpoint set
    child = _run_child({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, hide_exporter)

    # Then it warns once, naming the package, and runs on without tracing
    assert child.stdout.split() == ["NoneType", "ProxyTracerProvider"]
    warnings = [line for line in child.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1
    assert "opentelemetry-exporter-otlp-proto-http" in warnings[0]
