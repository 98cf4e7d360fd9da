"""What every `meshq` command shares: connection options, output, errors and exit codes.

Exit codes (docs/cli.md): 0 success; 1 the server refused the request (the message says why);
2 bad usage or input (found before any call, or INVALID_ARGUMENT); 3 the server could not be
reached; 4 not found; 5 permission denied or unauthenticated. They are read from the SDK's one
error table, ``meshq.api.errors``, by exception class (``exit_code``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click
import grpc

from meshq.api import errors
from meshq.api.connection import DEFAULT_TIMEOUT, Connection, InsecureChannelRefused
from meshq.api.rooms import RoomsClient
from meshq.cli.output import emit, output_option

__all__ = ["emit", "output_option"]  # re-exported: every command imports them from here

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_FOUND = 4
EXIT_DENIED = 5

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# SDK exception class -> exit code; a class not here (or under one here) exits 1.
ERROR_EXITS: tuple[tuple[type[errors.MeshqRpcError], int], ...] = (
    (errors.Unreachable, EXIT_UNREACHABLE),
    (errors.NotFound, EXIT_NOT_FOUND),
    (errors.Denied, EXIT_DENIED),
    (errors.InvalidArgument, EXIT_USAGE),
)


def exit_code(err: errors.MeshqRpcError) -> int:
    """The exit code for a refused call, by its class in ``meshq.api.errors``."""
    for cls, code in ERROR_EXITS:
        if isinstance(err, cls):
            return code
    return EXIT_REFUSED


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


# top-level module a command may miss -> the extra that installs it (pyproject.toml)
MODULE_EXTRAS = {
    "grpc_health": "server", "grpc_reflection": "server",
    "prometheus_client": "server", "uvloop": "server", "opentelemetry": "worker",
    "jsonschema": "worker", "ray": "ray", "openai": "openai", "psycopg": "postgres",
    "psycopg_pool": "postgres", "starlette": "studio", "jinja2": "studio", "uvicorn": "studio",
    "python_multipart": "studio", "multipart": "studio",
}


def missing_extra_message(err: ModuleNotFoundError, what: str = "this command") -> str:
    """'… needs meshq[server] (pip install "meshq[server]"): no module prometheus_client'."""
    module = (err.name or "").split(".")[0]
    extra = MODULE_EXTRAS.get(module)
    if extra is None:
        return f"{what} cannot import {err.name or err}: reinstall meshq"
    return (f"{what} needs the meshq[{extra}] extra (pip install \"meshq[{extra}]\"): "
            f"no module {module}")


def require_extra(module: str, extra: str, what: str) -> None:
    """Exit 2 saying which extra to install when ``module`` is not importable."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        fail(f"{what} needs the meshq[{extra}] extra (pip install \"meshq[{extra}]\"): "
             f"no module {module}", EXIT_USAGE)


def connection_options(command: F) -> F:
    """Add --profile, --server, --token, --tls-ca, --insecure and --timeout; they arrive as
    ``conn``. A flag or environment variable wins over the profile (meshq.cli.profiles)."""

    @click.option("--profile", envvar="MESHQ_PROFILE",
                  help="A named profile of the config file [env MESHQ_PROFILE; default: its "
                       "default_profile] (docs/cli.md).")
    @click.option("--server", envvar="MESHQ_SERVER", help="host:port of the meshq server "
                  "[env MESHQ_SERVER; default 127.0.0.1:50051]")
    @click.option("--token", envvar="MESHQ_TOKEN", help="Bearer token [env MESHQ_TOKEN; "
                  "default: the local admin token in the data dir]")
    @click.option("--tls-ca", envvar="MESHQ_TLS_CA", type=click.Path(exists=True, dir_okay=False),
                  help="CA certificate to verify the server's TLS certificate [env MESHQ_TLS_CA]")
    @click.option("--insecure", is_flag=True, default=None,
                  help="Allow plaintext to a non-loopback server.")
    @click.option("--timeout", type=float, default=None,
                  help="Deadline of each call, in seconds [default: 30].")
    @functools.wraps(command)
    def wrapper(*args: Any, profile: str | None, server: str | None, token: str | None,
                tls_ca: str | None, insecure: bool | None, timeout: float | None,
                **kwargs: Any) -> Any:
        conn = make_connection(profile=profile, server=server, token=token, tls_ca=tls_ca,
                               insecure=insecure, timeout=timeout)
        return command(*args, conn=conn, **kwargs)

    return wrapper  # type: ignore[return-value]


def make_connection(*, profile: str | None = None, server: str | None = None,
                    token: str | None = None, tls_ca: str | None = None,
                    insecure: bool | None = None, timeout: float | None = None) -> Connection:
    """A Connection from the options given, the profile filling in what they leave out."""
    from meshq.cli.profiles import ProfileError, select

    if profile is None:  # `meshq --profile NAME <command>`
        ctx = click.get_current_context(silent=True)
        profile = ctx.find_root().params.get("profile") if ctx else None
    try:
        chosen = select(profile)
    except ProfileError as err:
        fail(str(err), EXIT_USAGE)
    if chosen is not None:
        server = server or chosen.server
        token = token or chosen.token
        tls_ca = tls_ca or chosen.tls_ca
        insecure = insecure if insecure is not None else chosen.insecure
        timeout = timeout if timeout is not None else chosen.timeout
    return Connection(server=server, token=token, tls_ca=tls_ca, insecure=bool(insecure),
                      timeout=DEFAULT_TIMEOUT if timeout is None else timeout)


def run(conn: Connection | None, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``, close ``conn``, and turn RPC failures into one line and an exit code."""

    async def main() -> T:
        try:
            return await coro
        finally:
            if conn is not None:
                await conn.close()

    try:
        return asyncio.run(main())
    except grpc.RpcError as raw:
        err = errors.from_rpc_error(raw)
        if isinstance(err, errors.Unavailable):
            server = conn.server if conn else "the server"
            fail(f"cannot reach meshq at {server} (is `meshq up` running?): {err.message}",
                 EXIT_UNREACHABLE)
        fail(str(err), exit_code(err))
    except InsecureChannelRefused as err:
        fail(str(err), EXIT_USAGE)
    except KeyboardInterrupt:
        fail("interrupted", 130)


def parse_json_arg(name: str, text: str) -> Any:
    """Parse a JSON command-line argument or exit 2 naming the position."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        fail(f"{name} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
             EXIT_USAGE)


def when(seconds: float) -> str:
    """Local wall-clock time of a Unix instant, for tables."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def room_queue_options(command: Any) -> Any:
    """Add the required --room and --queue; they arrive as ``room_name`` and ``queue_name``."""
    command = click.option("--queue", "queue_name", required=True, help="The queue's name.")(
        command)
    return click.option("--room", "room_name", required=True, help="The room's name.")(command)


async def require_room(rooms: RoomsClient, name: str, hint: str = "") -> None:
    """Exit 4 naming the fix when room ``name`` does not exist (``hint``: another way out)."""
    try:
        await rooms.get(name)
    except errors.NotFound:
        fail(f"NOT_FOUND: room {name!r} does not exist: create it with `meshq rooms create "
             f"--name {name}`{hint}", EXIT_NOT_FOUND)
