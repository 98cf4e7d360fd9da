"""A real Prometheus checks the deploy files and scrapes a live meshq metrics endpoint.

The endpoint is a real queue engine over SQLite with the Prometheus observers and the metrics
server, wired as ``meshq up`` wires them (``meshq.metrics.wiring``), under a short load: queue
traffic through the engine; scheduler, worker and pool traffic through their observers' hooks
(the calls those components make). Every PromQL expression in the Grafana dashboard and the
alert rules must then return data through Prometheus's HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshq.queue.engine import QueueEngine
from meshq.queue.model import NackItem, NewMessage, QueueOptions

from .promserver import DEPLOY, Prometheus, poll, run_promtool, running_prometheus, scrape_config

HERE = Path(__file__).parent
RATE_WINDOW = "30s"  # stands in for Grafana's $__rate_interval
COMPARISON = re.compile(r"^(?P<lhs>.+?)\s*(>|<|>=|<=|==|!=)\s*[0-9.]+\s*$", re.S)
SERIES_NAME = re.compile(r"\b(meshq_[a-z0-9_]+|up(?=\{))")


def test_promtool_accepts_the_config_and_the_rules() -> None:
    run_promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    run_promtool("check", "rules", str(DEPLOY / "prometheus" / "alerts.yml"))


def test_the_alerts_fire_when_they_should() -> None:
    # promtool's rule unit tests: each alert fires on a synthetic history, and not on a calm one
    run_promtool("test", "rules", str(HERE / "alerts_test.yml"))


@dataclass
class Live:
    """A live metrics endpoint and what drives it."""

    target: str
    engine: QueueEngine
    settings: Any
    """The server's ``Settings`` (its Prometheus observers are filled in)."""
    room: str


async def _load(live: Live, stop: asyncio.Event,
                each_round: Callable[[Any, str, int], None]) -> None:
    """Steady queue traffic until ``stop``; ``each_round(settings, room, round)`` after each
    round drives whatever else the test watches (the observers of the other components)."""
    room, engine, s = live.room, live.engine, live.settings
    await engine.open_queue(room, "jobs", QueueOptions(max_deliveries=2))
    stream = await engine.subscribe(room, "jobs", max_in_flight=1)
    s.scheduler.observer.tasks_changed(2, 1)
    try:
        rounds = 0
        while not stop.is_set():
            rounds += 1
            await _queue_round(engine, room, rounds)
            each_round(s, room, rounds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    finally:
        await stream.close()


async def _queue_round(engine: QueueEngine, room: str, rounds: int) -> None:
    await engine.send(room, "jobs", [NewMessage(body=f'{{"n": {rounds}}}') for _ in range(4)])
    await engine.send(room, "later", [NewMessage(body='"later"', delay_seconds=600)], create=True)
    got = await engine.receive(room, "jobs", max_messages=4, lease_seconds=0.05)
    if not got:
        return
    await engine.ack(room, "jobs", [d.lease_token for d in got[:2]])
    await engine.ack(room, "jobs", [got[0].lease_token])  # stale: acked already
    if len(got) > 2:  # fails twice in all: dead-lettered
        await engine.nack(room, "jobs", [NackItem(lease_token=got[2].lease_token, error="bad")])
    # got[3], if any, is left to expire: a redelivery


def _component_round(settings: Any, room: str, rounds: int) -> None:
    settings.scheduler.observer.fired(room, "jobs", "task-1", "enqueued", 0.02 * (rounds % 5))
    worker = settings.metrics.worker_observer
    worker.job_finished("jobs", "failed" if rounds % 4 == 0 else "ok", 0.2 + rounds % 3)
    worker.llm_tokens("gpt-test", 120, 30)
    if rounds % 3 == 0:
        worker.receive_retry("jobs", 0.5)
    pools = settings.pools.observer
    pools.replicas("p1", room, "jobs", wanted=3, running=2)
    pools.jobs("p1", room, "jobs", in_flight=1, done=rounds, failed=rounds // 4)
    pools.unsubscribed("p1", room, "jobs", 1)
    if rounds % 5 == 0:
        pools.restarted("p1", room, "jobs", 0)


@pytest.fixture
async def live(server: Any, unique: str) -> AsyncIterator[Live]:
    """The suite's real server (what `meshq up` runs, metrics endpoint included) under load.

    Queue traffic goes through its real engine; the scheduler, worker and pool observers of
    that same server are driven directly, so every series exists within a few scrapes.
    """
    live = Live(target=server.metrics_address, engine=server.engine,
                settings=server.stack.context.settings, room=unique)
    stop = asyncio.Event()
    load = asyncio.create_task(_load(live, stop, _component_round), name="metrics-load")
    try:
        yield live
    finally:
        stop.set()
        await load


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard, Grafana variables replaced."""
    dashboard = json.loads((DEPLOY / "grafana" / "meshq.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return [
        e.replace("$__rate_interval", RATE_WINDOW).replace("$room", ".*").replace("$queue", ".*")
        for e in exprs
    ]


def dashboard_variable_series() -> list[str]:
    """The metric each templating variable lists its values from (``label_values(m, l)``)."""
    dashboard = json.loads((DEPLOY / "grafana" / "meshq.json").read_text())
    names = []
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            match = re.match(r"label_values\((\w+)", var["query"]["query"])
            assert match, var["query"]
            names.append(match[1])
    return names


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def missing_data(prom: Prometheus) -> list[str]:
    """What does not yet return data (empty once everything does)."""
    missing = [e for e in dashboard_queries() if not prom.query(e)]
    missing += [f"series {n}" for n in dashboard_variable_series() if not prom.series_exist(n)]
    for expr in alert_exprs():
        if prom.query(expr):
            continue
        # An alert's condition may be legitimately false (nothing is wrong): then what it
        # compares must return data, and every series it names must exist.
        compared = COMPARISON.match(expr)
        if compared and not prom.query(compared["lhs"]):
            missing.append(f"alert left-hand side: {compared['lhs']}")
        missing += [
            f"alert series {n}" for n in SERIES_NAME.findall(expr) if not prom.series_exist(n)
        ]
    return missing


@pytest.mark.timeout(180)
async def test_every_dashboard_and_alert_query_returns_data(live: Live, tmp_path: Path) -> None:
    # Given Prometheus scraping the live endpoint every second with the deploy config and rules
    config = scrape_config(live.target)
    with running_prometheus(tmp_path, config) as prom:
        # When the load has run for a few scrapes
        # Then every dashboard query, variable and alert expression has data
        complete = await poll(lambda: missing_data(prom) == [], timeout=90, interval=1.0)
        assert complete, "\n".join(await asyncio.to_thread(missing_data, prom))

        # and the scrape target is healthy, and Prometheus loaded every alert rule
        targets = await asyncio.to_thread(prom.api, "targets")
        meshq = [t for t in targets["activeTargets"] if t["labels"]["job"] == "meshq"]
        assert [(t["health"], t["scrapeUrl"]) for t in meshq] == [
            ("up", f"http://{live.target}/metrics")
        ]
        rules = await asyncio.to_thread(prom.api, "rules")
        loaded = {r["name"] for g in rules["groups"] for r in g["rules"]}
        assert loaded == {
            "MeshqMetricsDown", "MeshqDeadLetterQueueGrowing", "MeshqOldestMessageTooOld",
            "MeshqWorkersBackingOff", "MeshqSchedulerLagging", "MeshqPoolBelowWantedReplicas",
        }  # fmt: skip
