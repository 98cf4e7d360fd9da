"""Source texts the demo puts into room storage for its jobs to read."""

from __future__ import annotations

import random

WORDS = (
    "queue worker lease message agent room storage schedule retry backoff stream credit "
    "durable ack nack delivery jitter cron model tool file report batch latency throughput "
    "the a of to and in is it that with for on as at by"
).split()


def make_text(seed: int, *, lines: int = 40, words_per_line: int = 12) -> str:
    """A deterministic pseudo-text: the same seed gives the same words."""
    rng = random.Random(seed)
    return "\n".join(
        " ".join(rng.choice(WORDS) for _ in range(words_per_line)) for _ in range(lines)
    ) + "\n"
