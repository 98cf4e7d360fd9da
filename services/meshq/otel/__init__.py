"""OpenTelemetry set-up and trace propagation (``meshq.otel`` keeps the reference's name)."""
