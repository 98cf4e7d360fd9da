"""Trace context through queues: a job's span continues the span that sent it.

The W3C ``traceparent`` (and ``tracestate``) travel in message headers. Senders call
``inject(headers)``; the worker wraps processing in ``job_span(name, headers)``. With no
OpenTelemetry SDK configured these are no-ops (the API's default tracer).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

TRACER_NAME = "meshq"


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current trace context into message headers (no-op without an active span)."""
    propagate.inject(headers)


@contextmanager
def send_span(name: str, headers: MutableMapping[str, str]) -> Iterator[Span]:
    """A producer span around a send whose context is injected into ``headers``."""
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(name, kind=SpanKind.PRODUCER) as span:
        propagate.inject(headers)
        yield span


@contextmanager
def job_span(name: str, headers: Mapping[str, str], **attributes: str | int) -> Iterator[Span]:
    """A consumer span whose parent is the span that sent the message (if any)."""
    parent = propagate.extract(dict(headers))
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER) as span:
        for key, value in attributes.items():
            span.set_attribute(key, value)
        yield span
