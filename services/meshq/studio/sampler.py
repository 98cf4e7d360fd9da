"""The charts' numbers: the server's own queue counters, read every few seconds.

The server exports them on its metrics endpoint (depth and friends as gauges, sends and
acks as counters), the same numbers Prometheus would scrape, so no Prometheus is needed.
The sampler reads that endpoint only while someone is signed in and keeps
``window_seconds`` of samples per (room, queue). Pages show a queue's samples only after
its counts were read through the SDK with the person's token, so a chart shows nothing the
token could not list.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from prometheus_client.parser import text_string_to_metric_families

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 5.0
_GAUGES = {
    "meshq_queue_depth_messages": "depth",
    "meshq_queue_in_flight_messages": "in_flight",
    "meshq_queue_dead_lettered_messages": "dead_lettered",
}
_COUNTERS = {"meshq_messages_sent": "sent", "meshq_messages_acked": "acked"}


class Sample(NamedTuple):
    """One reading of one queue."""

    at: float
    """Seconds since the Unix epoch."""
    depth: float
    in_flight: float
    dead_lettered: float
    sent: float
    """Messages sent since the server started (a counter)."""
    acked: float


class Rate(NamedTuple):
    at: float
    send: float
    """Messages per second."""
    ack: float


def parse(text: str, at: float) -> dict[tuple[str, str], Sample]:
    """Samples of every queue in a Prometheus text exposition."""
    values: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        key = _GAUGES.get(family.name) or _COUNTERS.get(family.name)
        if key is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            room, queue = sample.labels.get("room"), sample.labels.get("queue")
            if room is None or queue is None:
                continue
            values.setdefault((room, queue), {})[key] = float(sample.value)
    return {k: Sample(at, v.get("depth", 0.0), v.get("in_flight", 0.0),
                      v.get("dead_lettered", 0.0), v.get("sent", 0.0), v.get("acked", 0.0))
            for k, v in values.items()}


def rates(samples: list[Sample]) -> list[Rate]:
    """Send and ack rates between consecutive samples (a counter that went down: a restart)."""
    out: list[Rate] = []
    for before, after in zip(samples, samples[1:], strict=False):
        span = after.at - before.at
        if span <= 0:
            continue
        out.append(Rate(after.at, max(0.0, after.sent - before.sent) / span,
                        max(0.0, after.acked - before.acked) / span))
    return out


class Sampler:
    """Reads ``metrics_url`` every ``interval`` seconds while ``active()`` is true."""

    def __init__(self, metrics_url: str, *, interval: float, window: float,
                 active: Callable[[], bool]) -> None:
        self.metrics_url = metrics_url
        self._interval = interval
        self._window = window
        self._active = active
        self._series: dict[tuple[str, str], deque[Sample]] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.metrics_url)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="studio-sampler")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    def series(self, room: str, queue: str) -> list[Sample]:
        return list(self._series.get((room, queue), ()))

    def latest_rate(self, room: str, queue: str) -> Rate | None:
        """The send / ack rate over the last two samples, None before there are two."""
        got = rates(self.series(room, queue)[-2:])
        return got[-1] if got else None

    async def sample_once(self) -> None:
        text = await asyncio.to_thread(self._fetch)
        now = time.time()
        for key, sample in parse(text, now).items():
            series = self._series.setdefault(key, deque())
            series.append(sample)
            while series and series[0].at < now - self._window:
                series.popleft()
        for key in [k for k, s in self._series.items() if not s or s[-1].at < now - self._window]:
            del self._series[key]

    def _fetch(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=FETCH_TIMEOUT_SECONDS) as resp:
            return resp.read().decode("utf-8")  # type: ignore[no-any-return]

    async def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            if self._active():
                try:
                    await self.sample_once()
                    failing = False
                except Exception as err:  # the endpoint may be down for a while; keep trying
                    if not failing:
                        logger.warning("studio: cannot read %s: %s", self.metrics_url, err)
                    failing = True
            try:
                await asyncio.wait_for(self._stop.wait(), self._interval)
            except TimeoutError:
                pass
