"""Trace context for sent messages, when the OpenTelemetry API is installed.

The SDK installs without OpenTelemetry (``pip install meshq``); an application that has
``opentelemetry-api`` (the ``[server]`` and ``[worker]`` extras bring it) gets the current
span's W3C ``traceparent`` written into every message it sends, so the job's span continues
it (``meshq.otel.tracing.job_span`` on the worker side). Without it ``inject`` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

try:
    from opentelemetry import propagate as _propagate
except ImportError:  # the client-only install: no tracing, nothing to propagate
    _propagate = None  # type: ignore[assignment]


def _noop(headers: MutableMapping[str, str]) -> None:
    """No OpenTelemetry API installed: there is no trace context to write."""


inject: Callable[[MutableMapping[str, str]], None] = (
    _propagate.inject if _propagate is not None else _noop)
"""Write the current trace context into message headers (no-op without an active span)."""
