"""`meshq pool …`: start, list, inspect, scale and stop pools of workers on Ray.

Also ``start_agent_pool``, which `meshq process join … --replicas N` calls to run a no-code
agent as a pool instead of in its own process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from meshq.api.connection import Connection
from meshq.api.pools import PoolInfo, PoolsClient
from meshq.cli.common import (
    EXIT_USAGE,
    connection_options,
    emit,
    fail,
    output_option,
    parse_json_arg,
    run,
)

LLM_APIS = ("responses", "chat")
PROGRESS_EVERY = 2.0  # seconds between progress lines while `pool start` waits

llm_api_option = click.option(
    "--llm-api", type=click.Choice(LLM_APIS), default="responses", show_default=True,
    help="The LLM server's API: OpenAI Responses, or Chat Completions (vLLM, Ollama, "
         "llama.cpp and other servers without /v1/responses).")
room_lookup_option = click.option(
    "--room", default="", help="The pool's room (needed only when the name is used in "
                               "several rooms you can see).")

POOL_COLUMNS = ("pool", "room", "queue", "worker", "state", "replicas", "in flight", "done",
                "failed", "backend")


def _replicas_text(pool: PoolInfo) -> str:
    bounds = f" ({pool.min_replicas}-{pool.max_replicas})" if pool.autoscaled else ""
    return f"{pool.replicas_running}/{pool.replicas_wanted}{bounds}"


def _row(pool: PoolInfo) -> tuple[Any, ...]:
    return (pool.name, pool.room, pool.queue, pool.worker, pool.state, _replicas_text(pool),
            pool.jobs_in_flight, pool.jobs_done, pool.jobs_failed, pool.backend)


def _emit_pools(output: str, pools: Sequence[PoolInfo], title: str | None = None) -> None:
    emit(output, [dataclasses.asdict(p) for p in pools], columns=POOL_COLUMNS,
         rows=[_row(p) for p in pools], title=title)


def _emit_pool(output: str, pool: PoolInfo) -> None:
    if output == "json":
        emit(output, dataclasses.asdict(pool))
        return
    _emit_pools(output, [pool])
    emit(output, None, columns=("actor", "state", "in flight", "done", "failed", "restarts",
                                "last error"),
         rows=[(a.index, a.state, a.in_flight, a.done, a.failed, a.restarts, a.last_error)
               for a in pool.actors], title=f"actors of {pool.name}")
    shipped = [("llm api", pool.llm_api), ("env (values hidden)", ", ".join(pool.env)),
               ("working dir", pool.working_dir), ("py modules", ", ".join(pool.py_modules))]
    for label, text in shipped:
        if text:
            click.echo(f"{label}: {text}")


def _scaling(replicas: int | None, min_replicas: int | None, max_replicas: int | None,
             target_backlog: int | None) -> dict[str, int]:
    autoscale = (min_replicas, max_replicas, target_backlog)
    if replicas is not None and any(v is not None for v in autoscale):
        fail("give --replicas, or --min/--max/--target-backlog, not both", EXIT_USAGE)
    if replicas is not None:
        return {"replicas": replicas}
    if min_replicas is not None or target_backlog is not None:
        if max_replicas is None:
            fail("--min and --target-backlog need --max (the autoscaling upper bound)",
                 EXIT_USAGE)
    values = {"min_replicas": min_replicas, "max_replicas": max_replicas,
              "target_backlog": target_backlog}
    return {k: v for k, v in values.items() if v is not None}


@click.group()
def pool() -> None:
    """Pools of workers (Ray actors) that consume a queue, fixed-size or autoscaled."""


@pool.command("start")
@click.option("--room", required=True, help="The room whose queue the pool consumes.")
@click.option("--queue", required=True, help="The queue the pool consumes.")
@click.option("--agent-name", help="Run a no-code LLM agent with this name (like `process join`).")
@click.option("--rule", "rules", multiple=True, help="A system rule for the agent (repeatable).")
@click.option("--require-storage", is_flag=True, help="Give the agent the room storage tools.")
@click.option("--require-web-search", is_flag=True, help="Give the agent hosted web search.")
@click.option("--model", default="", help="The agent's model [default: the adapter's].")
@click.option("--worker", "worker_class", help='Run a Worker subclass: "package.module:Class".')
@click.option("--args", "args_json", help="Keyword arguments for --worker, as a JSON object.")
@click.option("--replicas", type=click.IntRange(0, 64), help="Fixed number of replicas [1].")
@click.option("--min", "min_replicas", type=click.IntRange(0, 64),
              help="Autoscaling lower bound (0 allowed: scale to zero).")
@click.option("--max", "max_replicas", type=click.IntRange(1, 64),
              help="Autoscaling upper bound (turns autoscaling on).")
@click.option("--target-backlog", type=click.IntRange(1),
              help="Autoscaling target: outstanding messages per replica [10].")
@click.option("--cooldown", type=click.FloatRange(0), default=0.0,
              help="Seconds the load must stay low before scaling down [30].")
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Jobs per replica at once [1].")
@click.option("--cpus", type=click.FloatRange(0, 64), help="CPUs each actor reserves [0.25].")
@click.option("--name", default="", help="The pool's name, unique in its room "
                                            "[generated from the queue].")
@llm_api_option
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="An environment variable of every replica (repeatable; e.g. "
                   "OPENAI_API_KEY=...). Values are never shown back.")
@click.option("--env-file", type=click.Path(exists=True, dir_okay=False),
              help="A file of KEY=VALUE lines (# comments, optional `export`, quotes).")
@click.option("--working-dir", metavar="DIR", help="A directory shipped to every replica (Ray runtime_env "
                                    "working_dir): replicas run in it and import from it.")
@click.option("--py-module", "py_modules", multiple=True, metavar="PATH",
              help="A module or package path shipped to every replica (Ray runtime_env "
                   "py_modules; repeatable).")
@output_option
@connection_options
def pool_start(conn: Connection, output: str, room: str, queue: str, agent_name: str | None,
               rules: tuple[str, ...], require_storage: bool, require_web_search: bool,
               model: str, worker_class: str | None, args_json: str | None,
               replicas: int | None, min_replicas: int | None, max_replicas: int | None,
               target_backlog: int | None, cooldown: float, concurrency: int | None,
               cpus: float | None, name: str, llm_api: str, env_pairs: tuple[str, ...],
               env_file: str | None, working_dir: str | None,
               py_modules: tuple[str, ...]) -> None:
    """Start a pool of a Worker class (--worker) or of a no-code agent (--agent-name).

    Waits until the first replicas run, saying what it waits for. Fixed size with
    --replicas; autoscaled from the queue's backlog with --max (and --min, --target-backlog).
    --env / --env-file, --working-dir and --py-module are shipped to the replicas by Ray,
    so `meshq up` needs neither the variables nor a PYTHONPATH. Paths are resolved here;
    the server must see them at the same place (it does under `meshq up`), or give a remote
    zip URI (https://..., s3://...).
    """
    if bool(agent_name) == bool(worker_class):
        fail("give exactly one of --agent-name and --worker", EXIT_USAGE)
    if args_json and not worker_class:
        fail("--args goes with --worker", EXIT_USAGE)
    args = parse_json_arg("--args", args_json) if args_json else None
    if args is not None and not isinstance(args, dict):
        fail("--args must be a JSON object of keyword arguments", EXIT_USAGE)
    if llm_api != "responses" and not agent_name:
        fail("--llm-api goes with --agent-name (a Worker class picks its own adapter)",
             EXIT_USAGE)
    env = read_env(env_pairs, env_file)
    name = name or f"{queue}-{uuid.uuid4().hex[:6]}"
    client = PoolsClient(conn)
    started = run(conn, with_progress(client, name, room, client.start(
        room=room, queue=queue, worker_class=worker_class or "", worker_args=args,
        agent_name=agent_name or "", rules=rules, require_storage=require_storage,
        require_web_search=require_web_search, model=model, name=name,
        concurrency=concurrency or 0, cpus_per_actor=cpus or 0.0, cooldown_seconds=cooldown,
        llm_api=llm_api if agent_name else "", env=env,
        working_dir=_shipped(working_dir or ""), py_modules=[_shipped(p) for p in py_modules],
        **_scaling(replicas, min_replicas, max_replicas, target_backlog))))
    _emit_pool(output, started)


def _shipped(path: str) -> str:
    """A local path made absolute (the server resolves nothing relative); a URI as is."""
    if not path or "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def read_env(pairs: Sequence[str], env_file: str | None) -> dict[str, str]:
    """--env-file's lines, then --env pairs (later wins). Errors never show a value."""
    env: dict[str, str] = {}
    if env_file:
        for number, raw in enumerate(Path(env_file).read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            line = line.removeprefix("export ").strip()
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                fail(f"--env-file {env_file} line {number} is not KEY=VALUE", EXIT_USAGE)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            env[key.strip()] = value
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail("--env wants KEY=VALUE: one of the --env values has no '=' or no KEY "
                 "(not shown: it may be a secret)", EXIT_USAGE)
        env[key] = value
    return env


async def with_progress(client: PoolsClient, name: str, room: str, call: Any) -> PoolInfo:
    """Await StartPool, printing to stderr what the server is waiting for meanwhile (the first
    pool after `meshq up` starts a local Ray: that takes seconds)."""
    task = asyncio.ensure_future(call)
    began, last = time.monotonic(), ""
    while True:
        done, _ = await asyncio.wait({task}, timeout=PROGRESS_EVERY)
        if done:
            return task.result()  # type: ignore[no-any-return]
        try:
            line = _progress_line(await client.get(name, room=room))
        except Exception:
            line = "waiting for the server"
        if line != last:
            click.echo(f"pool {name}: {line} ({time.monotonic() - began:.0f}s)", err=True)
            last = line
        sys.stderr.flush()


def _progress_line(pool: PoolInfo) -> str:
    if not pool.actors:
        return "waiting for Ray (the first pool starts a local Ray) and the first replicas"
    running = sum(1 for a in pool.actors if a.state == "running")
    errors = [a.last_error for a in pool.actors if a.last_error]
    line = f"{running}/{len(pool.actors)} replicas running"
    return f"{line}; last error: {errors[-1]}" if errors else line


@pool.command("list")
@click.option("--room", default="", help="Only this room's pools.")
@output_option
@connection_options
def pool_list(conn: Connection, output: str, room: str) -> None:
    """List pools with their replicas and job counts."""
    _emit_pools(output, run(conn, PoolsClient(conn).list(room)))


@pool.command("get")
@click.argument("name")
@room_lookup_option
@output_option
@connection_options
def pool_get(conn: Connection, output: str, name: str, room: str) -> None:
    """Show one pool and each of its actors (state, jobs, restarts, last error)."""
    _emit_pool(output, run(conn, PoolsClient(conn).get(name, room=room)))


@pool.command("scale")
@click.argument("name")
@room_lookup_option
@click.option("--replicas", type=click.IntRange(0, 64), help="Fixed replicas (autoscaling off).")
@click.option("--min", "min_replicas", type=click.IntRange(0, 64), help="Autoscaling lower bound.")
@click.option("--max", "max_replicas", type=click.IntRange(1, 64), help="Autoscaling upper bound.")
@click.option("--target-backlog", type=click.IntRange(1), help="Messages per replica.")
@output_option
@connection_options
def pool_scale(conn: Connection, output: str, name: str, room: str, replicas: int | None,
               min_replicas: int | None, max_replicas: int | None,
               target_backlog: int | None) -> None:
    """Resize a pool, or change its autoscaling bounds."""
    if replicas is None and min_replicas is None and max_replicas is None \
            and target_backlog is None:
        fail("give --replicas, or --min/--max/--target-backlog", EXIT_USAGE)
    if replicas is not None and any(v is not None for v in (min_replicas, max_replicas,
                                                             target_backlog)):
        fail("give --replicas, or --min/--max/--target-backlog, not both", EXIT_USAGE)
    scaled = run(conn, PoolsClient(conn).scale(
        name, room=room, replicas=replicas, min_replicas=min_replicas, max_replicas=max_replicas,
        target_backlog=target_backlog))
    _emit_pool(output, scaled)


@pool.command("stop")
@click.argument("name")
@room_lookup_option
@click.option("--grace", type=click.FloatRange(0, 3600), default=30.0, show_default=True,
              help="Seconds running jobs get to finish before they are handed back.")
@output_option
@connection_options
def pool_stop(conn: Connection, output: str, name: str, room: str, grace: float) -> None:
    """Stop a pool: no new work, running jobs get the grace, the rest go back to the queue."""
    stopped = run(conn, PoolsClient(conn).stop(name, room=room, grace=grace or 0.001))
    _emit_pool(output, stopped)


async def start_agent_pool_async(
    conn: Connection, *, room: str, queue: str, agent_name: str, rules: Sequence[str],
    require_storage: bool, require_web_search: bool, model: str | None, replicas: int,
    concurrency: int, llm_api: str = "responses",
) -> PoolInfo:
    """Start a no-code agent as a pool of ``replicas`` actors (named after the agent)."""
    client = PoolsClient(conn)
    return await with_progress(client, agent_name, room, client.start(
        room=room, queue=queue, agent_name=agent_name, rules=rules,
        require_storage=require_storage, require_web_search=require_web_search,
        model=model or "", replicas=replicas, concurrency=concurrency, name=agent_name,
        llm_api=llm_api))


def start_agent_pool(
    conn: Connection, *, room: str, queue: str, agent_name: str, rules: Sequence[str],
    require_storage: bool, require_web_search: bool, model: str | None, replicas: int,
    concurrency: int, llm_api: str = "responses",
) -> None:
    """`meshq process join … --replicas N`: start the pool, print it, return (it keeps
    running in the server; `meshq pool stop NAME` stops it)."""
    started = run(conn, start_agent_pool_async(
        conn, room=room, queue=queue, agent_name=agent_name, rules=rules,
        require_storage=require_storage, require_web_search=require_web_search, model=model,
        replicas=replicas, concurrency=concurrency, llm_api=llm_api))
    _emit_pool("table", started)
    click.echo(f"pool {started.name} is running in the server; stop it with "
               f"`meshq pool stop {started.name}`", err=True)
