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
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

import click
import grpc

from meshq.api import errors
from meshq.api.connection import Connection, InsecureChannelRefused

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
    "grpc_health": "server", "grpc_reflection": "server", "croniter": "server",
    "prometheus_client": "server", "uvloop": "server", "opentelemetry": "worker",
    "jsonschema": "worker", "ray": "ray", "openai": "openai", "psycopg": "postgres",
    "psycopg_pool": "postgres",
}


def missing_extra_message(err: ModuleNotFoundError, what: str = "this command") -> str:
    """'… needs meshq[server] (pip install "meshq[server]"): no module croniter'."""
    module = (err.name or "").split(".")[0]
    extra = MODULE_EXTRAS.get(module)
    if extra is None:
        return f"{what} cannot import {err.name or err}: reinstall meshq"
    return (f"{what} needs the meshq[{extra}] extra (pip install \"meshq[{extra}]\"): "
            f"no module {module}")


def connection_options(command: F) -> F:
    """Add --server, --token, --tls-ca, --insecure and --timeout; they arrive as ``conn``."""

    @click.option("--server", envvar="MESHQ_SERVER", help="host:port of the meshq server "
                  "[env MESHQ_SERVER; default 127.0.0.1:50051]")
    @click.option("--token", envvar="MESHQ_TOKEN", help="Bearer token [env MESHQ_TOKEN; "
                  "default: the local admin token in the data dir]")
    @click.option("--tls-ca", envvar="MESHQ_TLS_CA", type=click.Path(exists=True, dir_okay=False),
                  help="CA certificate to verify the server's TLS certificate [env MESHQ_TLS_CA]")
    @click.option("--insecure", is_flag=True, help="Allow plaintext to a non-loopback server.")
    @click.option("--timeout", type=float, default=30.0, show_default=True,
                  help="Deadline of each call, in seconds.")
    @functools.wraps(command)
    def wrapper(*args: Any, server: str | None, token: str | None, tls_ca: str | None,
                insecure: bool, timeout: float, **kwargs: Any) -> Any:
        conn = Connection(server=server, token=token, tls_ca=tls_ca, insecure=insecure,
                          timeout=timeout)
        return command(*args, conn=conn, **kwargs)

    return wrapper  # type: ignore[return-value]


def output_option(command: F) -> F:
    """Add ``-o/--output table|json``; it arrives as ``output``."""
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Output format.")(command)


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


def emit(output: str, data: Any, *, columns: Sequence[str] = (), rows: Sequence[Sequence[Any]] = (),
         title: str | None = None) -> None:
    """Print ``data`` as JSON, or ``rows`` as a table with ``columns``."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console().print(table)
