"""BatchHistogram exposes what prometheus_client's Histogram would for the same values."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from meshq.metrics.batch_histogram import BatchHistogram
from meshq.metrics.definitions import LATENCY_BUCKETS


def _series(registry: CollectorRegistry) -> list[str]:
    """The exposition's sample lines, without the _created ones only the library writes."""
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines()
                  if line and not line.startswith("#") and "_created" not in line)


def test_the_same_values_give_the_same_exposition_as_the_library_histogram() -> None:
    rng = random.Random(7)
    # Values on every bucket bound (le is inclusive), between them, above the last, and zero
    values = [*LATENCY_BUCKETS, *(rng.uniform(0, 2000) for _ in range(500)),
              *(rng.expovariate(100) for _ in range(500)), 0.0, 5000.0]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("t_seconds", "doc", ("room", "queue"), LATENCY_BUCKETS, ours)
    library = Histogram("t_seconds", "doc", ("room", "queue"), buckets=LATENCY_BUCKETS,
                        registry=theirs)
    for room in ("a", "b"):
        batch.labels(room, "q").observe_many(values[:700])
        for v in values[700:]:
            batch.labels(room, "q").observe(v)
        for v in values:
            library.labels(room, "q").observe(v)

    def rounded(lines: list[str]) -> list[str]:  # float sums in another order: 9 digits
        return [f"{line.rsplit(' ', 1)[0]} {float(line.rsplit(' ', 1)[1]):.9g}" for line in lines]

    assert rounded(_series(ours)) == rounded(_series(theirs))


def test_a_negative_wait_counts_as_zero_and_bad_buckets_are_refused() -> None:
    registry = CollectorRegistry()
    h = BatchHistogram("w_seconds", "doc", ("q",), (0.1, 1.0), registry)
    h.labels("x").observe_many([-3.0, 0.5])
    assert h.labels("x").counts == [1, 1, 0] and h.labels("x").total == 0.5
    with pytest.raises(ValueError):
        BatchHistogram("v_seconds", "doc", ("q",), (1.0, 0.1), CollectorRegistry())
    with pytest.raises(ValueError):
        h.labels("x", "y")
