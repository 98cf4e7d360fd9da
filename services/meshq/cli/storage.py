"""`meshq storage list (ls) | cat | put | rm | mv | stat --room R`: files in a room's storage.

Paths are relative to the room ("notes/todo.txt"). Exit codes are those of
``meshq.cli.common``: 2 for a bad or escaping path, 4 for a missing file, 1 for other
refusals (exists already, non-empty folder, too big). A NOT_FOUND in a room that does not
exist says the room is missing, not the file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from meshq.api import errors
from meshq.api.connection import Connection
from meshq.api.rooms import RoomsClient
from meshq.api.storage import FileInfo, StorageClient
from meshq.cli.common import connection_options, emit, output_option, require_room, run

T = TypeVar("T")

CHUNK_BYTES = 1024 * 1024  # read from the local file / written to stdout at a time
PROGRESS_MIN_BYTES = 8 * 1024 * 1024  # files at least this big get a progress bar on stderr
MIN_TRANSFER_RATE = 1024 * 1024  # bytes/s: put and cat get conn.timeout + size / this


def room_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--room", required=True, help="The room whose files these are.")(command)


def transfer_timeout(conn: Connection, size: int) -> float:
    """A deadline that grows with the file, so a big upload on a slow link is not cut off."""
    return conn.timeout + size / MIN_TRANSFER_RATE


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else ""


def _row(info: FileInfo) -> tuple[str, str, str, str]:
    kind = "dir" if info.is_dir else "file"
    return (info.path + ("/" if info.is_dir else ""), kind,
            "" if info.is_dir else str(info.size), _when(info.modified_at_unix_ms))


async def room_aware(conn: Connection, room: str, call: Awaitable[T]) -> T:
    """``call``'s result; its NOT_FOUND becomes "room … does not exist" when the room is
    what is missing."""
    try:
        return await call
    except errors.NotFound:
        await require_room(RoomsClient(conn), room)
        raise


@click.group()
def storage() -> None:
    """Files in a room's storage."""


@storage.command("list")
@click.argument("path", default="")
@room_option
@click.option("-r", "--recursive", is_flag=True, help="Everything below, not only PATH's own.")
@output_option
@connection_options
def storage_list(path: str, room: str, recursive: bool, output: str, conn: Connection) -> None:
    """List the files in PATH (default: the room's top folder); `ls` is the same."""
    found = run(conn, room_aware(conn, room, StorageClient(conn, room).list(
        path, recursive=recursive)))
    emit(output, [f.to_dict() for f in found], columns=("path", "type", "size", "modified"),
         rows=[_row(f) for f in found])


@storage.command("stat")
@click.argument("path")
@room_option
@output_option
@connection_options
def storage_stat(path: str, room: str, output: str, conn: Connection) -> None:
    """Describe one file or folder."""
    info = run(conn, room_aware(conn, room, StorageClient(conn, room).stat(path)))
    emit(output, info.to_dict(), columns=("path", "type", "size", "modified"), rows=[_row(info)])


@storage.command("cat")
@click.argument("path")
@room_option
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Start at this byte.")
@click.option("--length", type=click.IntRange(min=0), default=0,
              help="At most this many bytes (0: to the end).")
@connection_options
def storage_cat(path: str, room: str, offset: int, length: int, conn: Connection) -> None:
    """Write a file's bytes to stdout, as they arrive."""
    out = sys.stdout.buffer

    async def stream() -> None:
        client = StorageClient(conn, room)
        size = (await client.stat(path)).size
        async for chunk in client.read_stream(path, offset, length,
                                              timeout=transfer_timeout(conn, size)):
            out.write(chunk)
        out.flush()

    run(conn, room_aware(conn, room, stream()))


@storage.command("put")
@click.argument("local", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                         path_type=Path))
@click.argument("path")
@room_option
@click.option("--no-overwrite", is_flag=True, help="Refuse if PATH exists already.")
@connection_options
def storage_put(local: Path, path: str, room: str, no_overwrite: bool, conn: Connection) -> None:
    """Upload the LOCAL file (or - for stdin) to PATH, atomically."""
    if str(local) == "-":
        data = sys.stdin.buffer.read()
        coro = StorageClient(conn, room).write(
            path, data, overwrite=not no_overwrite, timeout=transfer_timeout(conn, len(data)))
        info = run(conn, coro)
    else:
        info = run(conn, _upload(conn, room, local, path, overwrite=not no_overwrite))
    click.echo(f"stored {info.path} ({info.size} bytes)")


async def _upload(conn: Connection, room: str, local: Path, path: str, *,
                  overwrite: bool) -> FileInfo:
    size = local.stat().st_size
    client = StorageClient(conn, room)
    with local.open("rb") as handle:
        if size < PROGRESS_MIN_BYTES:
            return await client.write(path, _chunks(handle, None), overwrite=overwrite,
                                      timeout=transfer_timeout(conn, size))
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True)) as progress:
            task = progress.add_task(f"put {path}", total=size)
            return await client.write(
                path, _chunks(handle, lambda n: progress.advance(task, n)),
                overwrite=overwrite, timeout=transfer_timeout(conn, size))


async def _chunks(handle: BinaryIO, advanced: Callable[[int], None] | None
                  ) -> AsyncIterator[bytes]:
    while chunk := handle.read(CHUNK_BYTES):
        yield chunk
        if advanced is not None:
            advanced(len(chunk))


@storage.command("rm")
@click.argument("path")
@room_option
@click.option("-r", "--recursive", is_flag=True, help="Remove a folder and everything in it.")
@connection_options
def storage_rm(path: str, room: str, recursive: bool, conn: Connection) -> None:
    """Delete a file (or a folder: empty, or with --recursive)."""
    run(conn, StorageClient(conn, room).delete(path, recursive=recursive))
    click.echo(f"deleted {path}")


@storage.command("mv")
@click.argument("src")
@click.argument("dst")
@room_option
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
@connection_options
def storage_mv(src: str, dst: str, room: str, overwrite: bool, conn: Connection) -> None:
    """Rename SRC to DST within the room (DST's folders are created)."""
    info = run(conn, StorageClient(conn, room).move(src, dst, overwrite=overwrite))
    click.echo(f"moved {src} -> {info.path}")


_ls = click.Command("ls", callback=storage_list.callback, params=storage_list.params,
                    help=storage_list.help, short_help="The same as `storage list`.")
storage.add_command(_ls)
