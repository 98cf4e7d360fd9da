"""OpenTelemetry set-up and trace propagation (``meshq.otel`` keeps the reference's name).

``otel_config(service_name=...)`` is what a service script calls first (as in the reference:
``from meshq.otel import otel_config``). It sets up logging, and tracing only when the
operator asked for it with the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): then an SDK ``TracerProvider`` exports spans over
OTLP/HTTP. Otherwise the OpenTelemetry API stays a no-op and spans cost almost nothing.
Propagation through message headers lives in ``meshq.otel.tracing``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"

_configured_provider: Any = None


def otel_config(
    service_name: str = "meshq",
    *,
    level: int | str = logging.INFO,
) -> Any:
    """Configure logging and, when an OTLP endpoint is set, tracing; returns the provider or None.

    Safe to call more than once: the first call that sets up tracing wins (OpenTelemetry
    allows one global provider per process). ``OTEL_SERVICE_NAME``, when set, overrides
    ``service_name``; ``OTEL_SDK_DISABLED=true`` turns tracing off.
    """
    global _configured_provider
    env = os.environ  # read at call time (the entry point), never at import
    _configure_logging(level)
    if _configured_provider is not None:
        return _configured_provider
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if not any(env.get(name) for name in ENDPOINT_VARIABLES):
        return None
    provider = _make_provider(env.get("OTEL_SERVICE_NAME") or service_name)
    if provider is not None:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        _configured_provider = provider
    return provider


def _configure_logging(level: int | str) -> None:
    """Basic logging to stderr, unless the application configured handlers already."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)


def _make_provider(service_name: str) -> Any:
    """An SDK provider exporting over OTLP/HTTP, or None (one warning) if a package is missing."""
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning("OTLP endpoint set but opentelemetry-sdk is not installed: no tracing")
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        logger.warning("OTLP endpoint set but %s is not installed: no tracing", OTLP_PACKAGE)
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    logger.info("tracing: exporting spans over OTLP as service %r", service_name)
    return provider
