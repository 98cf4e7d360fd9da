"""`meshq status`: is the server there, which version, is each service healthy, and where are
its data dir, metrics and Studio.

The server part comes over gRPC (the standard health service, per hosted service); the
version from the server's ``/metrics`` (``meshq_build_info``); the data dir is the local one
(``--data-dir``) with the lock files a running server holds in it (the PID and address of the
process that owns each store); metrics and Studio are probed over HTTP at the server's host
on their default ports unless given. Exit 0 when the server answers and every hosted service
is SERVING, 1 when one is not, 3 when the server cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import click

from meshq.api import errors
from meshq.api.connection import Connection
from meshq.api.health import NOT_HOSTED, check
from meshq.api.paths import DEFAULT_METRICS_LISTEN, default_data_dir
from meshq.cli.common import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    connection_options,
    emit,
    output_option,
    run,
)

SERVICES = ("meshq.v1.RoomService", "meshq.v1.QueueService", "meshq.v1.SchedulerService",
            "meshq.v1.StorageService", "meshq.v1.WorkerService")
DEFAULT_STUDIO_PORT = 8470  # `meshq up --studio-listen` default 127.0.0.1:8470
METRICS_PORT = int(DEFAULT_METRICS_LISTEN.rsplit(":", 1)[1])
PROBE_SECONDS = 2.0  # an HTTP probe that takes longer is reported as not answering
_BUILD_INFO = re.compile(r'^meshq_build_info\{[^}]*version="([^"]+)"', re.MULTILINE)


def client_version() -> str:
    try:
        return version("meshq")
    except PackageNotFoundError:
        return "unknown"


def _host(server: str) -> str:
    return server.rsplit(":", 1)[0] if ":" in server else server


def http_probe(url: str) -> tuple[bool, str]:
    """(answered, body) for a GET of ``url``; an HTTP error status still answered."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_SECONDS) as response:  # noqa: S310
            return True, response.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError:
        return True, ""
    except (OSError, ValueError):
        return False, ""


def data_dir_state(folder: Path) -> dict[str, Any]:
    """The local data dir: whether it exists, and which live process holds each store lock."""
    state: dict[str, Any] = {"path": str(folder), "exists": folder.is_dir(), "locks": {}}
    for lock in sorted(folder.glob("*.lock")) if state["exists"] else []:
        try:
            holder = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            continue
        pid = holder.get("pid") if isinstance(holder, dict) else None
        if isinstance(pid, int) and _alive(pid):
            state["locks"][lock.stem] = {
                "pid": pid, "address": holder.get("address"),
                **{k: holder[k] for k in ("metrics", "studio") if isinstance(holder.get(k), str)}}
    return state


def _announced(data: dict[str, Any], server: str, endpoint: str) -> str | None:
    """The URL the server at ``server`` wrote for ``endpoint`` in the data dir's locks."""
    for holder in data["locks"].values():
        if holder.get("address") == server and holder.get(endpoint):
            return str(holder[endpoint])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def server_health(conn: Connection) -> dict[str, Any]:
    """{"reachable", "status", "services": {name: status}, "error"}."""
    try:
        overall = await check(conn, "")
        services = {name: await check(conn, name) for name in SERVICES}
    except errors.MeshqRpcError as err:
        return {"reachable": not isinstance(err, errors.Unreachable), "status": None,
                "services": {}, "error": str(err)}
    return {"reachable": True, "status": overall, "services": services, "error": None}


@click.command("status")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="MESHQ_DATA_DIR",
              help="The local data dir to describe [env MESHQ_DATA_DIR; default "
                   "~/.local/share/meshq]")
@click.option("--metrics", "metrics_address",
              help=f"host:port of the server's /metrics [default: the server's host, port "
                   f"{METRICS_PORT}]")
@click.option("--studio", "studio_address",
              help=f"host:port of the Studio [default: the server's host, port "
                   f"{DEFAULT_STUDIO_PORT}]")
@output_option
@connection_options
def status(data_dir: Path | None, metrics_address: str | None, studio_address: str | None,
           output: str, conn: Connection) -> None:
    """Is the server reachable; its version; each service's health; the data dir; the
    metrics and Studio addresses, and whether they answer."""
    host = _host(conn.server)
    local = data_dir_state((data_dir or default_data_dir()).expanduser())
    # What the server wrote in its data dir wins over the defaults; flags win over both.
    metrics = (f"http://{metrics_address}/metrics" if metrics_address else
               _announced(local, conn.server, "metrics") or f"http://{host}:{METRICS_PORT}/metrics")
    studio = (f"http://{studio_address}/" if studio_address else
              _announced(local, conn.server, "studio") or f"http://{host}:{DEFAULT_STUDIO_PORT}/")
    health = run(conn, server_health(conn))
    metrics_up, text = http_probe(metrics)
    studio_up, _ = http_probe(studio)
    found = _BUILD_INFO.search(text)
    report = {
        "server": conn.server, **health,
        "server_version": found.group(1) if found else None,
        "client_version": client_version(),
        "data_dir": local,
        "metrics": {"address": metrics, "answers": metrics_up},
        "studio": {"address": studio, "answers": studio_up},
    }
    _print(output, report)
    if not health["reachable"] or health["status"] is None:
        raise SystemExit(EXIT_UNREACHABLE)
    if health["status"] != "SERVING" or any(
            s not in ("SERVING", NOT_HOSTED) for s in health["services"].values()):
        raise SystemExit(EXIT_REFUSED)


def _print(output: str, report: dict[str, Any]) -> None:
    if output == "json":
        emit(output, report)
        return
    answered = {True: "answers", False: "no answer"}
    rows: list[tuple[str, str]] = [
        ("server", f"{report['server']}: "
                   + (report["status"] or f"unreachable ({report['error']})")),
        ("version", f"server {report['server_version'] or 'not reported'}, "
                    f"client {report['client_version']}"),
    ]
    rows += [(f"  {name.removeprefix('meshq.v1.')}", state.lower().replace("_", " "))
             for name, state in report["services"].items()]
    data = report["data_dir"]
    holders: dict[tuple[Any, Any], list[str]] = {}
    for store, holder in data["locks"].items():
        holders.setdefault((holder["pid"], holder["address"]), []).append(store)
    locks = "; ".join(f"{', '.join(stores)} held by pid {pid} at {address}"
                      for (pid, address), stores in holders.items())
    rows.append(("data dir", data["path"] + ("" if data["exists"] else " (missing)")
                 + (f": {locks}" if locks else "")))
    rows.append(("metrics", f"{report['metrics']['address']} "
                            f"({answered[report['metrics']['answers']]})"))
    rows.append(("studio", f"{report['studio']['address']} "
                           f"({answered[report['studio']['answers']]})"))
    emit(output, report, columns=("what", "state"), rows=rows)
