"""Fixtures for the observability tests: a fresh metrics registry and an in-memory span sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from meshq.metrics.definitions import new_registry

_exporter = InMemorySpanExporter()


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of its own per test: metrics start from nothing."""
    return new_registry(process=False)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist yet."""
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture(scope="session")
def _span_processor() -> InMemorySpanExporter:
    """Record every span of the process in memory.

    OpenTelemetry allows one global provider per process: reuse an SDK provider another test
    set, else install one.
    """
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    return _exporter


@pytest.fixture
def spans(_span_processor: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """The finished spans of this test (cleared before and after)."""
    _span_processor.clear()
    yield _span_processor
    _span_processor.clear()
