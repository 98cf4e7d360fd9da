"""Metrics hooks of the pools domain: do nothing by default (STYLE items 4 and 6).

The supervisor calls these after every health pass; the metrics engineer's Prometheus observer
overrides them. Actor processes report their counters to the supervisor (it polls each
replica's status), so the service process alone exports pool metrics: no Ray metrics agent
is needed and the series carry no per-process labels.
"""

from __future__ import annotations

from collections.abc import Sequence


class PoolObserver:
    """Called by the pool supervisor; every hook is a no-op here."""

    def replicas(self, pool: str, room: str, queue: str, wanted: int, running: int) -> None:
        """The pool's wanted and running replica counts, after a health pass."""

    def jobs(self, pool: str, room: str, queue: str, *, in_flight: int, done: int,
             failed: int) -> None:
        """The pool's job counts: in flight now, done and failed since it started (monotonic)."""

    def unsubscribed(self, pool: str, room: str, queue: str, count: int) -> None:
        """Replicas that are up but hold no open subscription (they consume nothing)."""

    def worker_activity(self, pool: str, room: str, queue: str, *,
                        jobs: Sequence[tuple[str, float]],
                        tokens: Sequence[tuple[str, int, int]],
                        retries: Sequence[float] = ()) -> None:
        """Jobs ((outcome, seconds)), LLM tokens ((model, input, output)) and subscription
        retries (back-off seconds) of the pool's replicas since the last pass."""

    def backend_restarted(self, backend: str) -> None:
        """The execution substrate (a local Ray) died and was started again."""

    def restarted(self, pool: str, room: str, queue: str, index: int) -> None:
        """A replica's process was restarted or replaced."""

    def removed(self, pool: str, room: str, queue: str) -> None:
        """The pool stopped: drop its series."""
