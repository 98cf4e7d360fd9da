"""The shipped Prometheus config and dashboard against real workers: a pool and an agent.

The suite's server is what `meshq up` runs (metrics endpoint included); it hosts an agent pool
(asyncio backend: the same replica code as a Ray actor), and `meshq process join
--metrics-listen` runs as a real process on the port the shipped config's `meshq-workers` job
lists; both agents use the real openai SDK against the fake model server. Prometheus scrapes
with deploy/prometheus/prometheus.yml as shipped (targets pointed at the test's ports, a 1 s
interval). Queue and scheduler traffic comes from the other Prometheus test's load; the
Workers row and the pool panels get their data from the real pool and agent alone (each
checked on their own queue and model, so no other test's series can stand in for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai.server import FakeOpenAI, response_text

from meshq.api.pools import PoolsClient
from meshq.api.rooms import RoomClient

from .promserver import Prometheus, poll, running_prometheus, scrape_config
from .test_prometheus import (
    RATE_WINDOW,
    Live,
    _load,
    dashboard_queries,
)

WORKER_PANELS = ("meshq_worker_", "meshq_llm_tokens_total", "meshq_pool_")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _panel_queries(room: str, queue: str) -> list[str]:
    """The Workers-row and pool queries of the dashboard, for one room and queue."""
    import json

    from .promserver import DEPLOY

    dashboard = json.loads((DEPLOY / "grafana" / "meshq.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])
             if any(name in t["expr"] for name in WORKER_PANELS)]
    return [e.replace("$__rate_interval", RATE_WINDOW).replace("$room", room)
            .replace("$queue", queue) for e in exprs]


def _scheduler_round(settings: Any, room: str, rounds: int) -> None:
    """Beside the queue traffic, only the scheduler is driven directly (the workers are real)."""
    settings.scheduler.observer.fired(room, "jobs", "task-1", "enqueued", 0.01 * (rounds % 5))


async def _job_load(server: Any, room: str, queues: tuple[str, ...], stop: asyncio.Event) -> None:
    async with RoomClient(room=room, server=server.address, token=server.token) as client:
        while not stop.is_set():
            for queue in queues:
                await client.queues.send(queue, {"instructions": "say ok"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.3)


@pytest.fixture
async def workers(server: Any, unique: str, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[dict[str, Any]]:
    """An agent pool on queue pool-q (model m-pool) and a process join agent on agent-q
    (model m-agent, metrics on its own port), both answering through the fake model."""
    with FakeOpenAI() as fake:
        fake.handler = lambda path, body: response_text("ok", model=body.get("model", "m"))
        # the pool's replicas run in this process (asyncio backend): the SDK reads these here
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        conn = server.connection()
        pools = PoolsClient(conn)
        await pools.start(room=unique, queue="pool-q", agent_name=f"{unique}-pool",
                          model=f"{unique}-m-pool", name=f"{unique}-pool")
        port = _free_port()
        env = {**os.environ, "MESHQ_TOKEN": server.token, "PYTHONUNBUFFERED": "1"}
        agent = subprocess.Popen(
            [sys.executable, "-m", "meshq.cli.main", "process", "join", "--room", unique,
             "--agent-name", f"{unique}-agent", "--channel", "queue:agent-q", "--model",
             f"{unique}-m-agent", "--metrics-listen", f"127.0.0.1:{port}",
             "--server", server.address],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            yield {"agent_target": f"127.0.0.1:{port}", "agent": agent}
        finally:
            agent.send_signal(signal.SIGINT)  # the server lives on this loop: wait off it
            await asyncio.to_thread(agent.communicate, timeout=30)
            await pools.stop(f"{unique}-pool", room=unique, grace=0.5)
            await conn.close()


def _missing(prom: Prometheus, room: str) -> list[str]:
    missing = [e for e in dashboard_queries() if not prom.query(e)]
    for queue in ("pool-q", "agent-q"):
        missing += [f"[{queue}] {e}" for e in _panel_queries(room, queue)
                    if (queue == "pool-q" or "meshq_pool_" not in e) and not prom.query(e)]
    models = {s["metric"].get("model") for s in prom.query(
        f"sum by (model) (rate(meshq_llm_tokens_total[{RATE_WINDOW}]))")}
    missing += [f"tokens of model {m}" for m in (f"{room}-m-pool", f"{room}-m-agent")
                if m not in models]
    return missing


@pytest.mark.timeout(240)
async def test_every_panel_has_data_from_a_real_pool_and_agent_with_the_shipped_config(
    server: Any, unique: str, workers: dict[str, Any], tmp_path: Path
) -> None:
    # Given the pool and the agent at work, and queue and scheduler traffic
    live = Live(target=server.metrics_address, engine=server.engine,
                settings=server.stack.context.settings, room=unique)
    stop = asyncio.Event()
    loads = [asyncio.create_task(_load(live, stop, _scheduler_round)),
             asyncio.create_task(_job_load(server, unique, ("pool-q", "agent-q"), stop))]
    try:
        # When Prometheus scrapes both endpoints with the shipped config
        config = scrape_config(server.metrics_address, [workers["agent_target"]])
        with running_prometheus(tmp_path, config) as prom:
            # Then every panel has data, the Workers row and pool panels from the real workers
            done = await poll(lambda: _missing(prom, unique) == [], timeout=150, interval=1.0)
            assert done, "\n".join(await asyncio.to_thread(_missing, prom, unique))
            targets = await asyncio.to_thread(prom.api, "targets")
            health = {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]}
            assert health == {"meshq": "up", "meshq-workers": "up"}
    finally:
        stop.set()
        await asyncio.gather(*loads)
    assert workers["agent"].poll() is None, "the agent process died"
