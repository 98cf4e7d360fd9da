"""`meshq process join` (a no-code LLM queue agent) and `meshq service run` (a user's workers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import runpy
import signal
import sys
from pathlib import Path

import click

from meshq.api.connection import Connection
from meshq.cli.common import (
    EXIT_USAGE,
    connection_options,
    fail,
    make_connection,
    require_extra,
    run,
)
from meshq.core.errors import MeshqError

CHANNEL_PREFIX = "queue:"

metrics_listen_option = click.option(
    "--metrics-listen", envvar="MESHQ_WORKER_METRICS_LISTEN", default="",
    help="Serve this process's worker metrics (backoff, job outcomes, LLM tokens) "
         "on host:port/metrics [env MESHQ_WORKER_METRICS_LISTEN; default: off].")
metrics_public_option = click.option(
    "--metrics-public", is_flag=True,
    help="Allow a non-loopback --metrics-listen (/metrics has no authentication).")


def parse_channel(channel: str) -> str:
    """``queue:NAME`` -> NAME (the only channel kind meshq has)."""
    if not channel.startswith(CHANNEL_PREFIX) or not channel[len(CHANNEL_PREFIX):]:
        fail(f"--channel must look like queue:NAME, got {channel!r}", EXIT_USAGE)
    return channel[len(CHANNEL_PREFIX):]


def read_rules(rules: tuple[str, ...], rules_file: str | None) -> list[str]:
    """--rule values, then the non-empty lines of --rules-file."""
    collected = list(rules)
    if rules_file:
        text = Path(rules_file).read_text(encoding="utf-8")
        collected += [line.strip() for line in text.splitlines() if line.strip()]
    return collected


@click.group()
def process() -> None:
    """Run agents with no code."""


@process.command("join")
@click.option("--room", required=True, help="The room whose queue the agent serves.")
@click.option("--agent-name", required=True, help="The agent's name (in logs and metrics).")
@click.option("--channel", required=True, help="What to consume: queue:NAME.")
@click.option("--rule", "rules", multiple=True, help="A system rule for the model (repeatable).")
@click.option("--rules-file", type=click.Path(exists=True, dir_okay=False),
              help="A file of rules, one per line.")
@click.option("--require-storage", is_flag=True, help="Give the agent the room storage tools.")
@click.option("--require-web-search", is_flag=True, help="Give the agent hosted web search.")
@click.option("--model", help="Model name [default: $OPENAI_MODEL or gpt-4.1-mini].")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Jobs run at once by this agent.")
@click.option("--llm-api", type=click.Choice(("responses", "chat")), default="responses",
              show_default=True,
              help="The LLM server's API: OpenAI Responses, or Chat Completions (vLLM, Ollama, "
                   "llama.cpp and other servers without /v1/responses).")
@metrics_listen_option
@metrics_public_option
@click.option("--replicas", type=click.IntRange(min=1),
              help="Run the agent as a Ray pool of this many actors instead of in this process.")
@connection_options
def join(conn: Connection, room: str, agent_name: str, channel: str, rules: tuple[str, ...],
         rules_file: str | None, require_storage: bool, require_web_search: bool,
         model: str | None, concurrency: int, llm_api: str, metrics_listen: str,
         metrics_public: bool,
         replicas: int | None) -> None:
    """Run an LLM queue agent on a room queue until Ctrl-C.

    Each message is given to the model (OpenAI Responses API, or Chat Completions with
    --llm-api chat; OPENAI_API_KEY / OPENAI_BASE_URL as the openai SDK reads them) with the rules and the required tools. Success acks the
    message; a failure nacks it with a backoff, and the queue dead-letters it after its
    max_deliveries.
    """
    queue = parse_channel(channel)
    all_rules = read_rules(rules, rules_file)
    if replicas is not None:
        from meshq.cli.pools import start_agent_pool

        start_agent_pool(conn, room=room, queue=queue, agent_name=agent_name, rules=all_rules,
                         require_storage=require_storage, require_web_search=require_web_search,
                         model=model, replicas=replicas, concurrency=concurrency,
                         llm_api=llm_api)
        return
    require_extra("openai", "openai", "`meshq process join`")
    from meshq.agents.queue_agent import build_queue_agent

    serve_worker_metrics(metrics_listen, public=metrics_public)
    worker = build_queue_agent(agent_name=agent_name, queue=queue, rules=all_rules,
                               require_storage=require_storage,
                               require_web_search=require_web_search, model=model,
                               concurrency=concurrency, llm_api=llm_api)
    click.echo(f"{agent_name}: consuming queue {queue} in room {room} (Ctrl-C to stop)", err=True)
    run(conn, _serve(conn, room, worker))


async def _serve(conn: Connection, room: str, worker: object) -> None:
    from openai import OpenAIError

    from meshq.agents.requirements import RequirementError
    from meshq.agents.worker import Worker
    from meshq.api.rooms import RoomClient

    assert isinstance(worker, Worker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    client = RoomClient(room=room, connection=conn)
    try:
        await worker.start(client)
    except (RequirementError, OpenAIError) as err:
        fail(f"cannot start {worker.name}: {err}", EXIT_USAGE)
    running = asyncio.create_task(worker.run())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([running, stopper], return_when=asyncio.FIRST_COMPLETED)
    await worker.stop()
    stopper.cancel()
    await running


@click.group()
def service() -> None:
    """Run the workers a Python file declares."""


@service.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--room", required=True, help="The room the file's workers serve.")
@click.option("--server", envvar="MESHQ_SERVER", help="host:port of the meshq server "
              "[env MESHQ_SERVER; default 127.0.0.1:50051]")
@click.option("--token", envvar="MESHQ_TOKEN", help="Bearer token [env MESHQ_TOKEN; default: "
              "the local admin token]")
@click.option("--profile", envvar="MESHQ_PROFILE",
              help="A named profile of the config file [env MESHQ_PROFILE] (docs/cli.md).")
@metrics_listen_option
@metrics_public_option
def run_service(file: str, room: str, server: str | None, token: str | None,
                profile: str | None, metrics_listen: str, metrics_public: bool) -> None:
    """Run FILE (a script ending in `asyncio.run(host.run())`) with its workers in ROOM.

    The file runs in this process as `__main__`; its `ServiceHost` finds the room in
    $MESHQ_ROOM, which this command sets. Ctrl-C / SIGTERM stops the workers gracefully.
    """
    require_extra("opentelemetry", "worker", "`meshq service run`")
    os.environ["MESHQ_ROOM"] = room
    if server or token or profile:  # the file's ServiceHost reads them from the environment
        conn = make_connection(profile=profile, server=server, token=token)
        os.environ["MESHQ_SERVER"] = conn.server
        if conn.token:
            os.environ["MESHQ_TOKEN"] = conn.token
        if conn.tls_ca:
            os.environ["MESHQ_TLS_CA"] = str(conn.tls_ca)
    serve_worker_metrics(metrics_listen, public=metrics_public)
    path = Path(file).resolve()
    sys.path.insert(0, str(path.parent))
    sys.argv = [str(path)]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except KeyboardInterrupt:
        pass


run_service.name = "run"


def serve_worker_metrics(listen: str, *, public: bool = False) -> None:
    """Every Worker this process builds logs one line per job and lets the user's INFO lines
    through (``meshq.cli.joblog``); with --metrics-listen it also reports to /metrics there."""
    from meshq.agents.observer import FanOutObserver, WorkerObserver, set_default_observer
    from meshq.cli.joblog import JobLogObserver, configure_worker_logging, verbosity

    configure_worker_logging(verbosity())
    observers: list[WorkerObserver] = [JobLogObserver()]
    if listen:
        from meshq.metrics.wiring import serve_worker_metrics as start

        try:
            observer, _server, port = start(listen, public=public)
        except MeshqError as err:
            fail(err.message, EXIT_USAGE)
        observers.append(observer)
        click.echo(f"worker metrics on http://{listen.rsplit(':', 1)[0]}:{port}/metrics",
                   err=True)
    set_default_observer(FanOutObserver(*observers))
