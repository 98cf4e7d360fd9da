"""`meshq scheduled-task …`: add, list, get, update, delete, runs, trigger, preview.

Task ids may be shortened to any unambiguous prefix (``meshq.cli.ids``).
``preview`` runs offline from the same code that fires (``meshq.scheduler.preview``)
unless ``--server`` is given. Durations take ``90``, ``90s``, ``30m``, ``1h``, ``2d``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import click

from meshq.api import errors
from meshq.api.connection import Connection
from meshq.api.scheduler import SchedulerClient, run_to_dict, task_to_dict
from meshq.cli.common import (
    EXIT_USAGE,
    connection_options,
    emit,
    fail,
    output_option,
    parse_json_arg,
    run,
)

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
POLICY = click.Choice(["skip", "latest", "all"])


def parse_duration(name: str, text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``1h``, ``2d``; exit 2 otherwise."""
    match = _DURATION.fullmatch(text.lower())
    if not match:
        fail(f"{name} {text!r} is not a duration such as 30s, 30m, 1h or 2d", EXIT_USAGE)
    return float(match.group(1)) * _UNITS[match.group(2)]


def _payload(text: str) -> str:
    parse_json_arg("--payload", text)
    return text


def _task_row(task: dict[str, Any]) -> tuple[Any, ...]:
    return (task["id"], task["name"], task["room"], task["queue"], task["schedule"],
            task["timezone"], "yes" if task["active"] else "no", task["next_fire"] or "-",
            task["last_outcome"] or "-", task["misfire_policy"],
            _seconds(task["catchup_window_seconds"]), _seconds(task["jitter_seconds"]),
            "yes" if task["once"] else "", "yes" if task["skip_if_pending"] else "")


def _seconds(value: float) -> str:
    return f"{value:g}s"


TASK_COLUMNS = ("id", "name", "room", "queue", "schedule", "timezone", "active", "next fire",
                "last outcome", "misfire", "catchup", "jitter", "once", "skip if pending")
WIDE_COLUMNS = frozenset(TASK_COLUMNS[8:])  # shown with -o wide


def _emit_tasks(output: str, tasks: list[dict[str, Any]]) -> None:
    emit(output, tasks, columns=TASK_COLUMNS, rows=[_task_row(t) for t in tasks],
         wide=WIDE_COLUMNS)


async def resolve_task_id(client: SchedulerClient, given: str) -> str:
    """``given`` when it is a task's id, else the one task id it is a prefix of."""
    from meshq.cli.ids import pick

    try:
        return (await client.get(given)).id  # type: ignore[no-any-return]
    except (errors.NotFound, errors.InvalidArgument):
        pass
    return pick(given, [t.id for t in await client.list()], "scheduled task")


async def _on_task(conn: Connection, given: str, action: str, **kwargs: Any) -> Any:
    """Resolve the id (or prefix), then call ``SchedulerClient.<action>`` with it."""
    client = SchedulerClient(conn)
    task_id = await resolve_task_id(client, given)
    return await getattr(client, action)(task_id, **kwargs)


@click.group("scheduled-task")
def scheduled_task() -> None:
    """Cron tasks that enqueue a payload into a room's queue, each fire exactly once."""


@scheduled_task.command("add")
@click.option("--room", required=True, help="The room whose queue receives the payload.")
@click.option("--queue", required=True, help="The queue that receives the payload.")
@click.option("--schedule", required=True, help='Cron: 5 fields, or 6 with seconds first ("30 17 * * *").')
@click.option("--payload", default="null", show_default=True, help="The payload, JSON text.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone, e.g. Europe/Berlin.")
@click.option("--name", default="", help="A human-readable name.")
@click.option("--inactive", is_flag=True, help="Store the task without firing it.")
@click.option("--once", is_flag=True, help="Fire once, then become inactive.")
@click.option("--catchup-window", default="1h", show_default=True,
              help="How old a missed instant may be and still be caught up (30m, 1h, ...).")
@click.option("--misfire", type=POLICY, default="skip", show_default=True,
              help="Instants missed while the scheduler was down: skip, latest, or all.")
@click.option("--misfire-cap", type=int, default=100, show_default=True,
              help="With --misfire all, the most missed instants enqueued.")
@click.option("--jitter", default="0", show_default=True, help="Random delay of up to this much per fire.")
@click.option("--skip-if-pending", is_flag=True,
              help="Skip an instant while the previous fire's message is still queued.")
@output_option
@connection_options
def add(room: str, queue: str, schedule: str, payload: str, timezone: str, name: str, inactive: bool,
        once: bool, catchup_window: str, misfire: str, misfire_cap: int, jitter: str,
        skip_if_pending: bool, output: str, conn: Connection) -> None:
    """Add a scheduled task."""
    task = run(conn, SchedulerClient(conn).add(
        room=room, queue=queue, schedule=schedule, payload_json=_payload(payload), timezone=timezone,
        name=name, active=not inactive, once=once,
        catchup_window_seconds=parse_duration("--catchup-window", catchup_window),
        misfire_policy=misfire, misfire_cap=misfire_cap, jitter_seconds=parse_duration("--jitter", jitter),
        skip_if_pending=skip_if_pending))
    data = task_to_dict(task)
    if output == "json":
        emit(output, data)
    else:
        _emit_tasks(output, [data])


@scheduled_task.command("list")
@click.option("--room", default="", help="Only this room's tasks.")
@click.option("--active-only", is_flag=True, help="Only active tasks.")
@output_option
@connection_options
def list_tasks(room: str, active_only: bool, output: str, conn: Connection) -> None:
    """List tasks with their next fire and last outcome."""
    tasks = [task_to_dict(t) for t in run(conn, SchedulerClient(conn).list(room=room, active_only=active_only))]
    _emit_tasks(output, tasks)


@scheduled_task.command("get")
@click.argument("task_id")
@output_option
@connection_options
def get(task_id: str, output: str, conn: Connection) -> None:
    """Show one task (TASK_ID or an unambiguous prefix of it)."""
    data = task_to_dict(run(conn, _on_task(conn, task_id, "get")))
    if output == "json":
        emit(output, data)
    else:
        _emit_tasks("wide", [data])


@scheduled_task.command("update")
@click.argument("task_id")
@click.option("--queue", help="A new queue.")
@click.option("--schedule", help="A new cron schedule.")
@click.option("--payload", help="A new payload (JSON text).")
@click.option("--timezone", help="A new IANA timezone.")
@click.option("--name", help="A new name.")
@click.option("--active/--inactive", default=None, help="Activate or deactivate.")
@click.option("--once/--not-once", default=None, help="Fire once, or on every instant.")
@click.option("--catchup-window", help="A new catch-up window (30m, 1h, ...).")
@click.option("--misfire", type=POLICY, help="A new misfire policy.")
@click.option("--misfire-cap", type=int, help="A new misfire cap.")
@click.option("--jitter", help="A new jitter (0 for none).")
@click.option("--skip-if-pending/--no-skip-if-pending", default=None, help="Skip while the last message is queued.")
@output_option
@connection_options
def update(task_id: str, output: str, conn: Connection, **options: Any) -> None:
    """Change only the settings given; the old settings never fire once this returns.

    TASK_ID may be an unambiguous prefix of the id."""
    fields: dict[str, Any] = {}
    for option, field in (("queue", "queue"), ("schedule", "schedule"), ("timezone", "timezone"),
                          ("name", "name"), ("active", "active"), ("once", "once"),
                          ("misfire", "misfire_policy"), ("misfire_cap", "misfire_cap"),
                          ("skip_if_pending", "skip_if_pending")):
        if options[option] is not None:
            fields[field] = options[option]
    if options["payload"] is not None:
        fields["payload_json"] = _payload(options["payload"])
    if options["catchup_window"] is not None:
        fields["catchup_window_seconds"] = parse_duration("--catchup-window", options["catchup_window"])
    if options["jitter"] is not None:
        fields["jitter_seconds"] = parse_duration("--jitter", options["jitter"])
    if not fields:
        fail("nothing to update: give at least one option (see --help)", EXIT_USAGE)
    data = task_to_dict(run(conn, _on_task(conn, task_id, "update", **fields)))
    if output == "json":
        emit(output, data)
    else:
        _emit_tasks(output, [data])


@scheduled_task.command("delete")
@click.argument("task_id")
@connection_options
def delete(task_id: str, conn: Connection) -> None:
    """Delete a task (TASK_ID or a prefix); once this returns it never enqueues again."""

    async def delete_one() -> str:
        client = SchedulerClient(conn)
        full = await resolve_task_id(client, task_id)
        await client.delete(full)
        return full

    click.echo(f"deleted {run(conn, delete_one())}")


@scheduled_task.command("runs")
@click.argument("task_id")
@click.option("--limit", type=int, default=20, show_default=True, help="The most entries.")
@output_option
@connection_options
def runs(task_id: str, limit: int, output: str, conn: Connection) -> None:
    """The fire ledger, newest first: instant, outcome, message id."""
    found = [run_to_dict(r) for r in run(conn, _on_task(conn, task_id, "runs", limit=limit))]
    emit(output, found, columns=("scheduled at", "outcome", "message id", "fired at", "manual", "error"),
         rows=[(r["scheduled_at"], r["outcome"], r["message_id"] or "-", r["fired_at"],
                "yes" if r["manual"] else "", r["error"] or "") for r in found])


@scheduled_task.command("trigger")
@click.argument("task_id")
@output_option
@connection_options
def trigger(task_id: str, output: str, conn: Connection) -> None:
    """Enqueue the task's payload now (recorded in the ledger)."""
    found = run_to_dict(run(conn, _on_task(conn, task_id, "trigger")))
    emit(output, found, columns=("scheduled at", "outcome", "message id"),
         rows=[(found["scheduled_at"], found["outcome"], found["message_id"] or "-")])


@scheduled_task.command("preview")
@click.option("--schedule", required=True, help="A cron schedule.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone.")
@click.option("--from", "start", help="Start after this ISO 8601 instant (default: now).")
@click.option("--count", type=int, default=5, show_default=True, help="How many instants (at most 1000).")
@click.option("--server", envvar="MESHQ_PREVIEW_SERVER",
              help="Ask this server instead of computing locally (the same code either way).")
@output_option
def preview(schedule: str, timezone: str, start: str | None, count: int, server: str | None,
            output: str) -> None:
    """The next instants of a schedule, computed offline by the code that fires."""
    from meshq.core.errors import MeshqError
    from meshq.scheduler import cron
    from meshq.scheduler.preview import preview_bounded, preview_budget

    try:
        after = cron.check_instant("--from", cron.parse_instant(start, "--from")) if start else datetime.now(UTC)
        if server:
            conn = Connection(server=server)
            response = run(conn, SchedulerClient(conn).preview(
                schedule, timezone=timezone, from_unix_ms=cron.to_ms(after), count=count))
            pairs = list(zip(response.instants_unix_ms, response.instants_local, strict=True))
            stopped = response.stopped_reason if response.stopped else ""
        else:
            found = preview_bounded(schedule, timezone, after, count, preview_budget())
            pairs = [(cron.to_ms(i), i.isoformat()) for i in found.instants]
            stopped = found.stopped
    except MeshqError as err:
        fail(err.message, EXIT_USAGE)
    data = [{"local": local, "utc": cron.iso_ms(ms)} for ms, local in pairs]
    if stopped:  # the work bound ran out: say so, beside what was found
        click.echo(f"note: preview stopped early ({stopped})", err=True)
    emit(output, data, columns=("local", "utc"), rows=[(d["local"], d["utc"]) for d in data])
