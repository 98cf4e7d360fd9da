"""`meshq setup` (local API key and admin token) and `meshq token mint` (scoped tokens)."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import click

from meshq.api.paths import admin_token_path, api_key_path, default_data_dir
from meshq.api.tokens import ApiScope, ParticipantGrant, ParticipantToken
from meshq.cli.common import EXIT_USAGE, fail, output_option
from meshq.core.errors import MeshqError
from meshq.core.validation import NAME_PATTERN

_TTL = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MESHQ_DATA_DIR",
    help="The meshq data dir [env MESHQ_DATA_DIR; default ~/.local/share/meshq]")


def parse_ttl(text: str) -> timedelta:
    """'90s', '15m', '1h', '7d' (or a sum such as '1h30m') -> timedelta."""
    parts = _TTL.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        fail(f"--ttl {text!r} is invalid: use a number and a unit, e.g. 30m, 1h, 7d", EXIT_USAGE)
    ttl = sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())
    if ttl <= timedelta(0):
        fail("--ttl must be positive", EXIT_USAGE)
    return ttl


@click.command("setup")
@data_dir_option
@click.option("--rotate-api-key", is_flag=True,
              help="Replace the API key: every token signed with the old one stops working "
                   "once the server restarts.")
@click.option("--show-api-key", is_flag=True,
              help="Print the API key: alone on stdout (MESHQ_API_KEY=$(meshq setup "
                   "--show-api-key)), or as api_key with -o json. Never printed otherwise.")
@output_option
def setup(data_dir: Path | None, rotate_api_key: bool, show_api_key: bool, output: str) -> None:
    """Create the data dir (0700), the API key (0600) and the local admin token. Idempotent.

    A data dir open to other users is tightened to 0700 (with a warning); a shared folder
    such as /tmp is refused. The API key signs every token: it is printed only with
    --show-api-key."""
    from meshq.security.keys import ensure_local_credentials
    from meshq.security.keys import rotate_api_key as rotate

    folder = (data_dir or default_data_dir()).expanduser()
    try:
        api_key, _ = rotate(folder) if rotate_api_key else ensure_local_credentials(folder)
    except MeshqError as err:  # e.g. a shared folder given as the data dir
        fail(err.message, EXIT_USAGE)
    info: dict[str, object] = {"data_dir": str(folder), "api_key_path": str(api_key_path(folder)),
                               "admin_token_path": str(admin_token_path(folder)),
                               "rotated": rotate_api_key}
    if output == "json":
        if show_api_key:
            info["api_key"] = api_key
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    if show_api_key:
        click.echo(api_key)
        return
    click.echo(f"data dir:    {folder}")
    click.echo(f"API key:     {info['api_key_path']} (0600; signs every token)")
    click.echo(f"admin token: {info['admin_token_path']} (0600; the CLI and SDK on this "
               "machine use it)")
    if rotate_api_key:
        click.echo("The API key was rotated: restart `meshq up` to use it.")
    click.echo("For scripts that mint their own tokens:")
    click.echo("  export MESHQ_API_KEY=$(meshq setup --show-api-key)")


@click.group("token")
def token() -> None:
    """Mint scoped tokens signed with the local API key."""


def _api_key(explicit: str | None, data_dir: Path | None) -> str:
    if explicit:
        return explicit
    path = api_key_path((data_dir or default_data_dir()).expanduser())
    try:
        return path.read_text().strip()
    except OSError:
        fail(f"no API key at {path}: run `meshq setup`, or pass --api-key / MESHQ_API_KEY",
             EXIT_USAGE)


def build_scope(*, send: tuple[str, ...], receive: tuple[str, ...], manage: tuple[str, ...],
                storage_read: tuple[str, ...], storage_write: tuple[str, ...], scheduler: bool,
                workers: bool, admin: bool) -> ApiScope:
    return ApiScope(queue_send=send, queue_receive=receive, queue_manage=manage,
                    storage_read=storage_read, storage_write=storage_write,
                    scheduler=scheduler, workers=workers, admin=admin)


@token.command("mint")
@click.option("--room", "rooms", multiple=True, required=True,
              help="A room the token is for (repeatable; '*' for every room).")
@click.option("--name", required=True, help="The participant's name.")
@click.option("--role", default="agent", show_default=True, help="The role grant (recorded).")
@click.option("--send", multiple=True, metavar="QUEUE", help="Queue name or glob to Send to.")
@click.option("--receive", multiple=True, metavar="QUEUE",
              help="Queue name or glob to Receive / Subscribe / settle / peek.")
@click.option("--manage", multiple=True, metavar="QUEUE",
              help="Queue name or glob to Open / Close / Drain / Delete / Redrive.")
@click.option("--storage-read", multiple=True, metavar="PREFIX",
              help="Storage path prefix to read ('' for the whole room).")
@click.option("--storage-write", multiple=True, metavar="PREFIX",
              help="Storage path prefix to write ('' for the whole room).")
@click.option("--scheduler", is_flag=True, help="Manage the room's scheduled tasks.")
@click.option("--workers", is_flag=True, help="Start, scale and stop worker pools.")
@click.option("--admin", is_flag=True, help="Everything, plus creating and deleting rooms.")
@click.option("--agent-default", is_flag=True,
              help="ApiScope.agent_default(): send/receive all queues, all storage, scheduler.")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime: 30m, 1h, 7d, ...")
@click.option("--api-key", envvar="MESHQ_API_KEY",
              help="Sign with this key [env MESHQ_API_KEY; default: the data dir's key]")
@data_dir_option
def mint(rooms: tuple[str, ...], name: str, role: str, ttl: str, api_key: str | None,
         data_dir: Path | None, agent_default: bool, **grants: object) -> None:
    """Print a token for ROOM with only the grants given."""
    for room in rooms:
        if room != "*" and not NAME_PATTERN.fullmatch(room):
            fail(f"--room {room!r} is not a valid room name", EXIT_USAGE)
    scope = ApiScope.agent_default() if agent_default else build_scope(**grants)  # type: ignore[arg-type]
    if agent_default and any(grants.values()):
        fail("--agent-default cannot be combined with other grant options", EXIT_USAGE)
    participant = ParticipantToken(name=name, grants=[
        *(ParticipantGrant(name="room", scope=room) for room in rooms),
        ParticipantGrant(name="role", scope=role),
        ParticipantGrant(name="api", scope=scope),
    ])
    key = _api_key(api_key or os.environ.get("MESHQ_API_KEY"), data_dir)
    click.echo(participant.to_jwt(api_key=key, ttl=parse_ttl(ttl)))
