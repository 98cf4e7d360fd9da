"""`meshq studio url` (a one-time login link) and `meshq serve studio` (the Studio alone).

`meshq up` serves the Studio too (``--studio-listen``); see docs/studio.md.
"""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from meshq.api.paths import default_data_dir, default_server
from meshq.cli.common import EXIT_DENIED, EXIT_UNREACHABLE, EXIT_USAGE, fail
from meshq.studio.config import DEFAULT_STUDIO_LISTEN

DEFAULT_STUDIO_URL = f"http://{DEFAULT_STUDIO_LISTEN}"
REQUEST_TIMEOUT_SECONDS = 30.0


def studio_listen_option(command: Any) -> Any:
    """`meshq up --studio-listen HOST:PORT`."""
    return click.option(
        "--studio-listen", default=None,
        help=f"The Studio web console's host:port ('' turns it off) [default "
             f"{DEFAULT_STUDIO_LISTEN}, skipped with a notice when that port is busy]")(command)


@click.group("studio")
def studio() -> None:
    """The Studio web console: sign in with a one-time link."""


def request_code(studio_url: str, token: str) -> str:
    """Ask the Studio for a one-time login code for ``token`` (sent in a header, never in
    the URL). Exits with a one-line error when the Studio refuses or cannot be reached."""
    request = urllib.request.Request(
        studio_url.rstrip("/") + "/login/code", data=b"", method="POST",
        headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return str(json.loads(response.read())["code"])
    except urllib.error.HTTPError as err:
        try:
            reason = json.loads(err.read()).get("error", "")
        except (ValueError, AttributeError):
            reason = ""
        fail(f"the Studio refused the token: {reason or err.reason}",
             EXIT_DENIED if err.code == 401 else 1)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        fail(f"cannot reach the Studio at {studio_url} (is `meshq up` running with "
             f"--studio-listen?): {reason}", EXIT_UNREACHABLE)


@studio.command("url")
@click.option("--token", envvar="MESHQ_TOKEN",
              help="Sign in with this token [env MESHQ_TOKEN; default: the local admin token]")
@click.option("--studio", "studio_url", envvar="MESHQ_STUDIO", default=DEFAULT_STUDIO_URL,
              show_default=True, help="The Studio's address [env MESHQ_STUDIO]")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="MESHQ_DATA_DIR", help="Where the local admin token is [env MESHQ_DATA_DIR]")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def url(token: str | None, studio_url: str, data_dir: Path | None, output: str) -> None:
    """Print a one-time link that signs a browser in to the Studio.

    The link holds a code good for one use within a minute; the token itself never
    appears in it.
    """
    from meshq.api.connection import discover_token

    if "://" not in studio_url:
        studio_url = "http://" + studio_url
    token = token or discover_token((data_dir or default_data_dir()).expanduser())
    if not token:
        fail("no token: pass --token, set MESHQ_TOKEN, or run `meshq setup`", EXIT_USAGE)
    code = request_code(studio_url, token)
    link = f"{studio_url.rstrip('/')}/login/link?code={code}"
    click.echo(json.dumps({"url": link}) if output == "json" else link)


@click.command("studio")
@click.option("--server", envvar="MESHQ_SERVER", default=None,
              help="host:port of the meshq server [env MESHQ_SERVER; default 127.0.0.1:50051]")
@click.option("--listen", default=DEFAULT_STUDIO_LISTEN, show_default=True,
              help="host:port the Studio serves HTTP on.")
@click.option("--tls-ca", envvar="MESHQ_TLS_CA", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="CA certificate of the server's TLS [env MESHQ_TLS_CA]")
@click.option("--metrics-url", default="",
              help="The server's metrics endpoint, e.g. http://127.0.0.1:9464/metrics: "
                   "the charts' counters (none: no charts).")
@click.option("--insecure", is_flag=True, help="Serve plain HTTP on a non-loopback address.")
def serve_studio(server: str | None, listen: str, tls_ca: Path | None, metrics_url: str,
                 insecure: bool) -> None:
    """Run the Studio web console alone, as a client of --server, until Ctrl-C."""
    from meshq.core.errors import MeshqError
    from meshq.studio import StudioConfig

    config = StudioConfig(server=server or default_server(), listen=listen, tls_ca=tls_ca,
                          metrics_url=metrics_url, insecure=insecure)
    try:
        asyncio.run(_serve(config))
    except MeshqError as err:
        fail(err.message, EXIT_USAGE)
    except KeyboardInterrupt:
        pass


async def _serve(config: Any) -> None:
    from meshq.studio import open_studio

    studio_server = await open_studio(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    click.echo(f"meshq studio: on {studio_server.url} (server {config.server})")
    click.echo(f"meshq studio: sign in with `meshq studio url --studio "
               f"{studio_server.url.rstrip('/')}`")
    try:
        await stopping.wait()
    finally:
        await studio_server.stop()


class ServeCommand(click.Command):
    """`meshq serve` whose first argument may be `studio`: then it is `serve_studio`
    (the Studio is a client of a server, not one of its components)."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if args and args[0] == "studio":
            return serve_studio.make_context(f"{info_name} studio", args[1:], parent=parent,
                                             **extra)
        return super().make_context(info_name, args, parent=parent, **extra)
