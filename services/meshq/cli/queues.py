"""`meshq room queue …` and its alias `meshq queue …`: send, receive and manage a room's queues.

The room rule (docs/cli.md): nothing is sent or scheduled into a room that does not exist —
`queue send`, like `scheduled-task add`, refuses an unknown room (a typo is NOT_FOUND, exit
4) unless ``--create-room``; a missing queue in an existing room is created by the first send.
Rooms are made by `meshq rooms create`, `queue open`, or a consumer (a worker, `service run`,
`process join`). Lease settling (`ack`, `nack`, `extend`) and `get` are in
``meshq.cli.leases``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from meshq.api.connection import Connection
from meshq.api.messages import QueueInfo, ReceivedMessage
from meshq.api.queues import QueuesClient, outgoing
from meshq.api.rooms import RoomsClient
from meshq.cli import leases
from meshq.cli.common import (
    EXIT_USAGE,
    connection_options,
    emit,
    fail,
    output_option,
    parse_json_arg,
    require_room,
    room_queue_options,
    run,
    when,
)

BODY_COLUMN = 60  # characters of a body shown in tables (-o json has it whole)


@click.group()
def room() -> None:
    """Work inside a room: `meshq room queue …`."""


@click.group()
def queue() -> None:
    """Send, receive and manage the queues of a room (also `meshq room queue`)."""


room.add_command(queue)


@queue.command("send")
@room_queue_options
@click.option("--json", "json_text", help="The message: a JSON value.")
@click.option("--file", "file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="JSON Lines file (one message per line; '-' for stdin).")
@click.option("--header", "headers", multiple=True, metavar="KEY=VALUE",
              help="A header for every message (repeatable).")
@click.option("--delay", type=float, default=0.0, help="Seconds before the message is ready.")
@click.option("--dedup-id", help="Deduplication id (with --json only).")
@click.option("--priority", type=click.IntRange(0, 9), default=0, show_default=True,
              help="0-9, higher delivered first (FIFO within one priority).")
@click.option("--key", help="Groups messages for --key-concurrency and fair turns by key.")
@click.option("--create/--no-create", default=True, show_default=True,
              help="Create a missing queue (in an existing room).")
@click.option("--create-room", is_flag=True, help="Create the room too when it is missing.")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="Messages per Send call with --file.")
@output_option
@connection_options
def queue_send(room_name: str, queue_name: str, json_text: str | None, file: Path | None,
               headers: Sequence[str], delay: float, dedup_id: str | None, priority: int,
               key: str | None, create: bool, create_room: bool, batch_size: int, output: str,
               conn: Connection) -> None:
    """Send a message (--json) or many (--file jobs.jsonl, with a progress bar).

    The room must exist (a typo is NOT_FOUND) unless --create-room; a missing queue is
    created unless --no-create."""
    if (json_text is None) == (file is None):
        fail("give exactly one of --json or --file", EXIT_USAGE)
    if file is not None and dedup_id:
        fail("--dedup-id works with --json only", EXIT_USAGE)
    header_map = _parse_headers(headers)
    if json_text is not None:
        bodies = [parse_json_arg("--json", json_text)]
    else:
        bodies = _read_jsonl(file)  # type: ignore[arg-type]
    batch = [outgoing(body, headers=header_map, delay=delay, dedup_id=dedup_id,
                      priority=priority, key=key) for body in bodies]
    client = QueuesClient(conn, room_name)
    ids = run(conn, _send(client, queue_name, batch, create=create, batch_size=batch_size,
                          progress=file is not None,
                          room_check=None if create_room else RoomsClient(conn)))
    emit(output, {"room": room_name, "queue": queue_name, "message_ids": ids},
         columns=("message id",), rows=[(i,) for i in ids],
         title=f"sent {len(ids)} to {room_name}/{queue_name}")


async def _send(client: QueuesClient, queue_name: str, batch: list[Any], *, create: bool,
                batch_size: int, progress: bool, room_check: RoomsClient | None) -> list[str]:
    if room_check is not None:
        await require_room(room_check, client.room, ", or pass --create-room")
    if not progress:
        return await client.send_batch(queue_name, batch, create=create)
    from rich.console import Console
    from rich.progress import Progress

    ids: list[str] = []
    with Progress(console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"sending to {queue_name}", total=len(batch))
        for start in range(0, len(batch), batch_size):
            chunk = batch[start:start + batch_size]
            ids += await client.send_batch(queue_name, chunk, create=create)
            bar.advance(task, len(chunk))
    return ids


def _parse_headers(headers: Sequence[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in headers:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--header {item!r} must look like KEY=VALUE", EXIT_USAGE)
        parsed[key] = value
    return parsed


def _read_jsonl(path: Path) -> list[Any]:
    """Every non-blank line as JSON; any bad line stops everything before a message is sent."""
    try:
        if str(path) == "-":
            text = sys.stdin.read()
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        fail(f"cannot read {path}: {err}", EXIT_USAGE)
    bodies = [parse_json_arg(f"{path} line {number}", line)
              for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not bodies:
        fail(f"{path} holds no messages", EXIT_USAGE)
    return bodies


@queue.command("receive")
@room_queue_options
@click.option("--max", "max_messages", type=click.IntRange(1, 1000), default=1,
              show_default=True, help="The most messages to receive.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for a message when the queue is empty.")
@click.option("--wait-seconds", type=float, default=20.0, show_default=True,
              help="How long --wait waits.")
@click.option("--lease", type=float, default=30.0, show_default=True,
              help="Lease length with --no-ack.")
@click.option("--ack/--no-ack", default=True, show_default=True,
              help="Remove the messages (--ack) or leave them leased until the lease expires.")
@output_option
@connection_options
def queue_receive(room_name: str, queue_name: str, max_messages: int, wait: bool,
                  wait_seconds: float, lease: float, ack: bool, output: str,
                  conn: Connection) -> None:
    """Receive messages (a missing queue is NOT_FOUND).

    With --no-ack the lease tokens are printed: settle them with `queue ack`, `queue nack`
    or `queue extend` before the lease ends."""
    client = QueuesClient(conn, room_name)
    messages = run(conn, client.receive_messages(
        queue_name, max_messages=max_messages, wait=wait, timeout=wait_seconds, lease=lease,
        auto_ack=ack, create=False))
    if not messages and output != "json":
        waited = f" (waited {wait_seconds:g}s)" if wait else ""
        click.echo(f"no message in {room_name}/{queue_name}{waited}", err=True)
        return
    _emit_messages(output, messages, title=f"{room_name}/{queue_name}", leased=not ack)


@queue.command("peek")
@room_queue_options
@click.option("--max", "max_messages", type=click.IntRange(1, 1000), default=10,
              show_default=True, help="The most messages to show.")
@output_option
@connection_options
def queue_peek(room_name: str, queue_name: str, max_messages: int, output: str,
               conn: Connection) -> None:
    """Show the next ready messages without leasing them."""
    messages = run(conn, QueuesClient(conn, room_name).peek(queue_name, max_messages))
    if not messages and output != "json":
        click.echo(f"no ready message in {room_name}/{queue_name}", err=True)
        return
    _emit_messages(output, messages, title=f"{room_name}/{queue_name}")


@queue.command("list")
@click.option("--room", "room_name", required=True, help="The room's name.")
@output_option
@connection_options
def queue_list(room_name: str, output: str, conn: Connection) -> None:
    """List a room's queues with their counts."""
    found = run(conn, QueuesClient(conn, room_name).list())
    emit(output, [_queue_dict(q) for q in found],
         columns=("queue", "depth", "in flight", "delayed", "dead-lettered", "oldest age s",
                  "closed", "rate limit/s", "key concurrency", "max deliveries",
                  "dedup window s"),
         rows=[(q.name, q.depth, q.in_flight, q.delayed, q.dead_lettered,
                f"{q.oldest_age_seconds:.1f}", "yes" if q.closed else "", _rate(q),
                q.key_concurrency or "", q.max_deliveries,
                f"{q.dedup_window_seconds:g}") for q in found],
         title=room_name, wide=("max deliveries", "dedup window s"))


def _rate(q: QueueInfo) -> str:
    """'5 (burst 10)', or '' without a limit."""
    if not q.rate_limit:
        return ""
    return f"{q.rate_limit:g}" + (f" (burst {q.rate_burst})" if q.rate_burst else "")


@queue.command("open")
@room_queue_options
@click.option("--max-deliveries", type=click.IntRange(1), help="Deliveries before dead-lettering.")
@click.option("--dedup-window", type=float, help="Seconds a dedup id is remembered.")
@click.option("--rate-limit", type=click.FloatRange(0), metavar="R",
              help="Deliveries per second to all consumers together (0: no limit).")
@click.option("--rate-burst", type=click.IntRange(0), metavar="B",
              help="Deliveries saved up while idle (0: one second's worth of --rate-limit).")
@click.option("--key-concurrency", type=click.IntRange(0), metavar="N",
              help="Most leased messages per key at once (0: no limit).")
@output_option
@connection_options
def queue_open(room_name: str, queue_name: str, max_deliveries: int | None,
               dedup_window: float | None, rate_limit: float | None, rate_burst: int | None,
               key_concurrency: int | None, output: str, conn: Connection) -> None:
    """Create (room too) or reopen a queue, applying the options given (others are kept)."""
    info = run(conn, QueuesClient(conn, room_name).open(
        queue_name, max_deliveries=max_deliveries, dedup_window=dedup_window,
        rate_limit=rate_limit, rate_burst=rate_burst, key_concurrency=key_concurrency))
    emit(output, _queue_dict(info), columns=("queue", "depth", "max deliveries", "closed"),
         rows=[(info.name, info.depth, info.max_deliveries, "yes" if info.closed else "")])


@queue.command("close")
@room_queue_options
@connection_options
def queue_close(room_name: str, queue_name: str, conn: Connection) -> None:
    """Close a queue: it refuses send and receive until reopened."""
    run(conn, QueuesClient(conn, room_name).close(queue_name))
    click.echo(f"closed {room_name}/{queue_name}")


@queue.command("drain")
@room_queue_options
@output_option
@connection_options
def queue_drain(room_name: str, queue_name: str, output: str, conn: Connection) -> None:
    """Remove every message of a queue."""
    removed = run(conn, QueuesClient(conn, room_name).drain(queue_name))
    _emit_count(output, "removed", removed, f"drained {room_name}/{queue_name}")


@queue.command("delete")
@room_queue_options
@connection_options
def queue_delete(room_name: str, queue_name: str, conn: Connection) -> None:
    """Delete a queue and its messages."""
    run(conn, QueuesClient(conn, room_name).delete(queue_name))
    click.echo(f"deleted {room_name}/{queue_name}")


@queue.command("redrive")
@room_queue_options
@click.option("--max", "max_messages", type=click.IntRange(0), default=0, show_default=True,
              help="The most messages to move back (0: all).")
@output_option
@connection_options
def queue_redrive(room_name: str, queue_name: str, max_messages: int, output: str,
                  conn: Connection) -> None:
    """Move dead-lettered messages from QUEUE.dlq back to QUEUE."""
    moved = run(conn, QueuesClient(conn, room_name).redrive(queue_name, max_messages))
    _emit_count(output, "moved", moved, f"redrove {room_name}/{queue_name}")


def _emit_count(output: str, key: str, value: int, text: str) -> None:
    if output == "json":
        emit(output, {key: value})
    else:
        click.echo(f"{text}: {value} {key}")


def _queue_dict(q: QueueInfo) -> dict[str, Any]:
    return {"name": q.name, "depth": q.depth, "in_flight": q.in_flight, "delayed": q.delayed,
            "dead_lettered": q.dead_lettered, "oldest_age_seconds": q.oldest_age_seconds,
            "closed": q.closed, "max_deliveries": q.max_deliveries,
            "dedup_window_seconds": q.dedup_window_seconds, "rate_limit": q.rate_limit,
            "rate_burst": q.rate_burst, "key_concurrency": q.key_concurrency}


def _emit_messages(output: str, messages: Sequence[ReceivedMessage], *, title: str,
                   leased: bool = False) -> None:
    data = [{"message_id": m.message_id, "body": m.body, "headers": m.headers,
             "attempt": m.attempt, "enqueued_at": m.enqueued_at, "lease_token": m.lease_token,
             "lease_expires_at": m.lease_expires_at, "queue": m.queue,
             "priority": m.priority, "key": m.key} for m in messages]
    columns = ["message id", "attempt", "enqueued", "body", "headers"]
    rows = [[m.message_id, m.attempt, when(m.enqueued_at), _short(m.json),
             ",".join(f"{k}={v}" for k, v in sorted(m.headers.items()))] for m in messages]
    if leased:
        columns[1:1] = ["lease token", "lease ends"]
        for row, m in zip(rows, messages, strict=True):
            row[1:1] = [m.lease_token, when(m.lease_expires_at)]
    emit(output, data, columns=columns, rows=rows, title=title, wide=("headers",))


def _short(text: str) -> str:
    return text if len(text) <= BODY_COLUMN else text[:BODY_COLUMN - 1] + "…"


for _command in (leases.queue_get, leases.queue_ack, leases.queue_nack, leases.queue_extend):
    queue.add_command(_command)
