"""Prometheus metrics: definitions, the observers that move them, and the /metrics server.

Each observer lives in its own module (``queue``, ``scheduler``, ``worker``, ``pools``) so that
importing one does not import the other services.
"""
