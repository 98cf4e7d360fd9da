"""`meshq rooms …`: create, list and delete rooms (the queues are in ``meshq.cli.queues``).

Read commands take ``-o json``; errors are one line with the exit codes of
``meshq.cli.common`` (docs/cli.md).
"""

from __future__ import annotations

import click

from meshq.api.connection import Connection
from meshq.api.rooms import RoomsClient
from meshq.cli.common import connection_options, emit, output_option, run, when


@click.group()
def rooms() -> None:
    """Create, list and delete rooms."""


@rooms.command("create")
@click.option("--name", required=True, help="The room's name.")
@click.option("--if-not-exists", is_flag=True, help="An existing room is not an error.")
@output_option
@connection_options
def rooms_create(name: str, if_not_exists: bool, output: str, conn: Connection) -> None:
    """Create a room."""
    room = run(conn, RoomsClient(conn).create(name, if_not_exists=if_not_exists))
    emit(output, {"name": room.name, "created_at": room.created_at,
                  "queue_count": room.queue_count},
         columns=("room", "queues"), rows=[(room.name, room.queue_count)])


@rooms.command("list")
@output_option
@connection_options
def rooms_list(output: str, conn: Connection) -> None:
    """List rooms."""
    found = run(conn, RoomsClient(conn).list())
    emit(output, [{"name": r.name, "created_at": r.created_at, "queue_count": r.queue_count}
                  for r in found],
         columns=("room", "queues", "created"),
         rows=[(r.name, r.queue_count, when(r.created_at)) for r in found])


@rooms.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also delete the room's queues and their messages.")
@connection_options
def rooms_delete(name: str, force: bool, conn: Connection) -> None:
    """Delete a room (refused while it holds queues, unless --force)."""
    run(conn, RoomsClient(conn).delete(name, force=force))
    click.echo(f"deleted room {name}")
