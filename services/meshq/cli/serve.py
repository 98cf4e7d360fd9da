"""`meshq up` (every service, embedded defaults) and `meshq serve SERVICE…` (some of them)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from meshq.api.paths import (
    DEFAULT_METRICS_LISTEN,
    DEFAULT_SERVER,
    default_data_dir,
    default_server,
)
from meshq.cli.common import EXIT_USAGE, fail
from meshq.cli.studio import DEFAULT_STUDIO_LISTEN, ServeCommand, studio_listen_option
from meshq.core.errors import MeshqError
from meshq.queue.model import QueueLimits
from meshq.security.interceptor import DEFAULT_MAX_STREAMS_PER_TOKEN
from meshq.server.app import ALL_SERVICES, StackConfig
from meshq.server.runner import run_until_signalled

_LIMITS = QueueLimits()  # the engine's defaults are the command line's


def server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `up` and `serve` share."""
    options = [
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     envvar="MESHQ_DATA_DIR",
                     help="Where stores, keys and room storage live "
                          "[env MESHQ_DATA_DIR; default ~/.local/share/meshq]"),
        click.option("--listen", default=None,
                     help=f"gRPC host:port [env MESHQ_SERVER; default {DEFAULT_SERVER}]"),
        click.option("--metrics-listen", default=DEFAULT_METRICS_LISTEN, show_default=True,
                     help="Prometheus /metrics host:port ('' turns it off)."),
        click.option("--metrics-public", is_flag=True,
                     help="Allow a non-loopback --metrics-listen: /metrics has no "
                          "authentication and names every room and queue."),
        click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="PEM certificate chain: serve TLS only."),
        click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="PEM private key of --tls-cert."),
        click.option("--insecure", is_flag=True,
                     help="Allow plaintext on a non-loopback address."),
        click.option("--ray-address", default=None,
                     help="Join this Ray cluster for worker pools (default: a local Ray)."),
        click.option("--pool-backend", type=click.Choice(["ray", "asyncio"]), default="ray",
                     show_default=True, help="Where pool workers run."),
        click.option("--max-message-bytes", type=click.IntRange(1),
                     default=_LIMITS.max_message_bytes, show_default=True,
                     help="Largest message (body + headers)."),
        click.option("--max-batch", type=click.IntRange(1), default=_LIMITS.max_batch,
                     show_default=True, help="Most messages or settles in one call."),
        click.option("--max-queues-per-room", type=click.IntRange(1),
                     default=_LIMITS.max_queues_per_room, show_default=True,
                     help="Most queues in a room."),
        click.option("--max-depth", type=click.IntRange(1), default=_LIMITS.max_depth,
                     show_default=True, help="Most messages in a queue."),
        click.option("--max-streams-per-token", type=click.IntRange(1),
                     default=DEFAULT_MAX_STREAMS_PER_TOKEN,
                     show_default=True, help="Most open streams (Subscribe, WriteFile, ReadFile) per token."),
        click.option("--database-url", envvar="MESHQ_DATABASE_URL", default="",
                     help="postgresql://user:password@host:port/db: queues, scheduled tasks, "
                          "room storage live there, shared by every replica "
                          "(docs/postgres.md) [env MESHQ_DATABASE_URL; default: embedded]"),
        click.option("--api-key-file", envvar="MESHQ_API_KEY_FILE",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Verify tokens with the API key in this file (the same on every "
                          "replica) instead of the data dir's own [env MESHQ_API_KEY_FILE; "
                          "or the key itself in MESHQ_API_KEY]"),
        click.option("--replica-id", envvar="MESHQ_REPLICA_ID", default="",
                     help="This replica's stable name with --database-url (default: host "
                          "name and data dir); unique per running replica "
                          "[env MESHQ_REPLICA_ID]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _api_key(opts: dict[str, Any]) -> str:
    """The shared API key of --api-key-file or MESHQ_API_KEY ("" for the data dir's own)."""
    import os

    path = opts.get("api_key_file")
    if path is not None:
        key = Path(path).read_text().strip()
        if not key:
            fail(f"--api-key-file {path} is empty", EXIT_USAGE)
        return key
    return os.environ.get("MESHQ_API_KEY", "").strip()


def make_config(services: tuple[str, ...], *, data_dir: Path | None, listen: str | None,
                queue_server: str = "", queue_token: str = "",
                **opts: Any) -> tuple[StackConfig, str]:
    """Turn command-line options into a StackConfig and the metrics address."""
    limits = QueueLimits(
        max_message_bytes=opts["max_message_bytes"], max_batch=opts["max_batch"],
        max_queues_per_room=opts["max_queues_per_room"], max_depth=opts["max_depth"],
    )
    settings = {
        "queue_limits": limits,
        "ray_address": opts["ray_address"],
        "pool_backend": opts["pool_backend"],
        "max_streams_per_token": opts["max_streams_per_token"],
        "database_url": opts.get("database_url") or "",
        "replica_id": opts.get("replica_id") or "",
        "api_key": _api_key(opts),
    }
    config = StackConfig(
        data_dir=(data_dir or default_data_dir()).expanduser(),
        listen=listen or default_server(),
        services=services, queue_server=queue_server, queue_token=queue_token,
        tls_cert=opts["tls_cert"], tls_key=opts["tls_key"], insecure=opts["insecure"],
        settings=settings,
    )
    return config, opts["metrics_listen"]


def _event_loop_runner() -> Callable[..., Any]:
    """uvloop when it is installed (about 10% less server CPU per message), unless
    MESHQ_UVLOOP=0; the standard asyncio loop otherwise."""
    import os

    if os.environ.get("MESHQ_UVLOOP", "1") != "0":
        try:
            import uvloop

            return uvloop.run  # type: ignore[no-any-return]
        except ImportError:
            pass
    return asyncio.run


def _run(config: StackConfig, metrics_listen: str, *, metrics_public: bool = False,
         studio_listen: str | None = "") -> None:
    """``studio_listen`` None: the Studio on its default address, skipped if that is busy."""
    try:
        _event_loop_runner()(run_until_signalled(
            config, metrics_listen=metrics_listen, metrics_public=metrics_public,
            studio_listen=DEFAULT_STUDIO_LISTEN if studio_listen is None else studio_listen,
            studio_required=studio_listen is not None, announce=_announce))
    except MeshqError as err:
        fail(err.message, EXIT_USAGE)
    except KeyboardInterrupt:
        pass


def _announce(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


@click.command()
@server_options
@studio_listen_option
def up(data_dir: Path | None, listen: str | None, studio_listen: str | None,
       **opts: Any) -> None:
    """Run every meshq service on embedded defaults until Ctrl-C / SIGTERM.

    SQLite stores, room storage and keys go in the data dir; pools use a local Ray
    (or --ray-address). Prints `meshq up: listening on HOST:PORT` when ready, and the
    Studio's address (`meshq studio url` prints a sign-in link).
    """
    config, metrics = make_config(ALL_SERVICES, data_dir=data_dir, listen=listen, **opts)
    _run(config, metrics, metrics_public=opts["metrics_public"], studio_listen=studio_listen)


@click.command(cls=ServeCommand)
@click.argument("services", nargs=-1, required=True,
                type=click.Choice(["queue", "storage", "scheduler", "workers"]))
@click.option("--queue-server", default="",
              help="host:port of the queue service, when this process does not host it.")
@click.option("--queue-token", envvar="MESHQ_QUEUE_TOKEN", default="",
              help="Token for --queue-server [env MESHQ_QUEUE_TOKEN; default: MESHQ_TOKEN, "
                   "else the admin token in --data-dir]")
@server_options
def serve(services: tuple[str, ...], queue_server: str, queue_token: str,
          data_dir: Path | None, listen: str | None, **opts: Any) -> None:
    """Run some meshq services alone, e.g. `meshq serve scheduler --queue-server HOST:PORT`.

    `meshq serve studio --server HOST:PORT` runs the Studio web console alone (see
    `meshq serve studio --help`).

    This process verifies tokens with the API key of its own data dir; share the key file
    (`api_key`) between the processes so one set of tokens works everywhere.
    """
    if "queue" not in services and not queue_server:
        fail("--queue-server is required when this process does not host the queue service",
             EXIT_USAGE)
    if queue_server and not queue_token:
        from meshq.api.connection import discover_token

        queue_token = discover_token((data_dir or default_data_dir()).expanduser()) or ""
    config, metrics = make_config(services, data_dir=data_dir, listen=listen,
                                  queue_server=queue_server, queue_token=queue_token, **opts)
    _run(config, metrics, metrics_public=opts["metrics_public"])


