"""`meshq queue get | ack | nack | extend`: one message's state, and settling the leases that
`meshq queue receive --no-ack` printed.

Each settle command takes one or more lease tokens (``-`` reads them from stdin, one a line)
and reports the ones applied; a stale token (its lease expired, or it was settled already)
changes nothing and makes the command exit 1 naming it.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence

import click

from meshq.api.connection import Connection
from meshq.api.messages import MessageStatus
from meshq.api.queues import QueuesClient
from meshq.cli.common import (
    EXIT_REFUSED,
    EXIT_USAGE,
    connection_options,
    emit,
    fail,
    output_option,
    room_queue_options,
    run,
)
from meshq.cli.ids import matches, pick

PEEK_FOR_PREFIX = 1000  # ready messages looked through to resolve a message id prefix
tokens_argument = click.argument("tokens", nargs=-1, required=True, metavar="LEASE_TOKEN...")


@click.command("get")
@room_queue_options
@click.argument("message_id")
@output_option
@connection_options
def queue_get(room_name: str, queue_name: str, message_id: str, output: str,
              conn: Connection) -> None:
    """Where a message is (ready, delayed, in_flight or gone) and its delivery attempts.

    MESSAGE_ID may be an unambiguous prefix of a ready message's id."""
    full, status = run(conn, _get(QueuesClient(conn, room_name), queue_name, message_id))
    emit(output, {"message_id": full, "state": status.state, "attempt": status.attempt},
         columns=("message id", "state", "attempt"), rows=[(full, status.state, status.attempt)])


async def _get(client: QueuesClient, queue: str, given: str) -> tuple[str, MessageStatus]:
    status = await client.message_state(queue, given)
    if status.state != "gone":
        return given, status
    ready = [m.message_id for m in await client.peek(queue, PEEK_FOR_PREFIX)]
    if not matches(given, ready):
        return given, status  # gone: acked, expired, deleted, or never there
    full = pick(given, ready, "message")
    return full, await client.message_state(queue, full)


@click.command("ack")
@room_queue_options
@tokens_argument
@output_option
@connection_options
def queue_ack(room_name: str, queue_name: str, tokens: tuple[str, ...], output: str,
              conn: Connection) -> None:
    """Ack leases: their messages are done and removed."""
    wanted = _tokens(tokens)

    async def ack() -> list[bool]:
        return await QueuesClient(conn, room_name).ack(queue_name, wanted)

    _report(output, "acked", wanted, run(conn, ack()))


@click.command("nack")
@room_queue_options
@tokens_argument
@click.option("--delay", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Seconds before the message is ready again.")
@click.option("--error", default="", help="Why (kept in the x-meshq-last-error header).")
@output_option
@connection_options
def queue_nack(room_name: str, queue_name: str, tokens: tuple[str, ...], delay: float,
               error: str, output: str, conn: Connection) -> None:
    """Hand leases back: each message is redelivered (after --delay) with attempt + 1."""
    wanted = _tokens(tokens)
    client = QueuesClient(conn, room_name)
    _report(output, "nacked", wanted, run(conn, _each(
        wanted, lambda t: client.nack(queue_name, t, delay=delay, error=error))))


@click.command("extend")
@room_queue_options
@tokens_argument
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), required=True,
              help="The lease's new length, from now.")
@output_option
@connection_options
def queue_extend(room_name: str, queue_name: str, tokens: tuple[str, ...], seconds: float,
                 output: str, conn: Connection) -> None:
    """Extend leases to --seconds from now (the message stays with you)."""
    wanted = _tokens(tokens)
    client = QueuesClient(conn, room_name)
    _report(output, "extended", wanted, run(conn, _each(
        wanted, lambda t: client.extend(queue_name, t, seconds))))


async def _each(tokens: Sequence[str], call: Callable[[str], Awaitable[bool]]) -> list[bool]:
    return [await call(token) for token in tokens]


def _tokens(given: tuple[str, ...]) -> list[str]:
    """The tokens given, ``-`` standing for stdin's lines."""
    tokens: list[str] = []
    for item in given:
        if item == "-":
            tokens += [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
        else:
            tokens.append(item)
    if not tokens:
        fail("no lease token given", EXIT_USAGE)
    return tokens


def _report(output: str, verb: str, tokens: Sequence[str], applied: Sequence[bool]) -> None:
    stale = [t for t, ok in zip(tokens, applied, strict=True) if not ok]
    done = len(tokens) - len(stale)
    if output == "json":
        emit(output, {verb: done, "stale": stale})
    else:
        click.echo(f"{verb} {done} of {len(tokens)}")
    if stale:
        fail(f"{len(stale)} lease token(s) are stale (expired, or settled already), nothing "
             f"changed for them: {', '.join(stale)}", EXIT_REFUSED)
