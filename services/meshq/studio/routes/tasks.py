"""A room's scheduled tasks: list, add, detail with the runs ledger, toggle, run now, and
edit, with a live preview of the next instants (the server's Preview RPC, the code that
fires)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from meshq.api.scheduler import run_to_dict, task_to_dict
from meshq.studio.errors import BadInput, rpc_message
from meshq.studio.paging import page_number, paginate
from meshq.studio.sessions import Session
from meshq.studio.web import action, back, field_text, page, render, state

NEXT_FIRES = 3  # instants shown per task in the list
PREVIEW_COUNT = 5  # instants shown by the edit form's preview
RUNS_LIMIT = 200  # ledger entries fetched for the detail page
RUNS_PER_PAGE = 20


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(text: str) -> str:
    """"2026-12-01T10:00:00+01:00" as "2026-12-01 10:00:00 +01:00"."""
    return text.replace("T", " ", 1)[:19] + " " + text[19:] if len(text) > 19 else text


async def next_fires(session: Session, schedule: str, timezone: str,
                     count: int) -> tuple[list[tuple[str, str]], str]:
    """[(local, UTC)] of the next instants, or ([], why the schedule is refused)."""
    try:
        preview = await session.client.scheduler.preview(schedule, timezone=timezone or "UTC",
                                                         count=count)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return [], rpc_message(err)
    return [(_local(local), _utc(ms)) for ms, local in
            zip(preview.instants_unix_ms, preview.instants_local, strict=False)], ""


async def _tasks(request: Request, session: Session) -> list[dict[str, Any]]:
    room = request.path_params["room"]
    await session.client.rooms.get(room)  # NOT_FOUND for an unknown room
    tasks = [task_to_dict(t) for t in await session.client.scheduler.list(room=room)]
    tasks.sort(key=lambda t: (t["name"] or t["id"]))
    return tasks


@page
async def tasks_page(request: Request, session: Session) -> Response:
    return await _list(request, session, "tasks.html")


@page
async def tasks_partial(request: Request, session: Session) -> Response:
    return await _list(request, session, "_tasks.html")


async def _list(request: Request, session: Session, template: str) -> Response:
    listed = paginate(await _tasks(request, session), page_number(request))
    fires = {t["id"]: (await next_fires(session, t["schedule"], t["timezone"], NEXT_FIRES))[0]
             if t["active"] and t["next_fire"] else [] for t in listed.items}
    draft = state(request).take_draft(session, "add") if template == "tasks.html" else {}
    return render(request, template, session, room=request.path_params["room"], tasks=listed,
                  fires=fires, draft=draft)


async def _task(request: Request, session: Session) -> dict[str, Any]:
    room, task_id = request.path_params["room"], request.path_params["task_id"]
    task = task_to_dict(await session.client.scheduler.get(task_id))
    if task["room"] != room:
        raise BadInput(f"Not found: task {task_id} is not in room {room}", status=404)
    return task


@page
async def task_page(request: Request, session: Session) -> Response:
    task = await _task(request, session)
    draft = state(request).take_draft(session, "edit")
    fields = {"schedule": task["schedule"], "timezone": task["timezone"],
              "payload": json.dumps(task["payload"], indent=2, ensure_ascii=False),
              "name": task["name"], **draft}
    fires, fires_error = await next_fires(session, fields["schedule"], fields["timezone"],
                                          PREVIEW_COUNT)
    runs = [run_to_dict(r) for r in await session.client.scheduler.runs(task["id"],
                                                                          limit=RUNS_LIMIT)]
    return render(request, "task.html", session, room=task["room"], task=task, fields=fields,
                  fires=fires, fires_error=fires_error,
                  runs=paginate(runs, page_number(request), RUNS_PER_PAGE))


@page
async def runs_partial(request: Request, session: Session) -> Response:
    task = await _task(request, session)
    runs = [run_to_dict(r) for r in await session.client.scheduler.runs(task["id"],
                                                                          limit=RUNS_LIMIT)]
    return render(request, "_runs.html", session, room=task["room"], task=task,
                  runs=paginate(runs, page_number(request), RUNS_PER_PAGE))


@page
async def preview_partial(request: Request, session: Session) -> Response:
    schedule = request.query_params.get("schedule", "")
    timezone = request.query_params.get("timezone", "") or "UTC"
    fires, error = await next_fires(session, schedule, timezone, PREVIEW_COUNT) \
        if schedule.strip() else ([], "Write a cron schedule, e.g. */5 * * * *.")
    return render(request, "_preview.html", session, fires=fires, fires_error=error)


def _payload(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as err:
        raise BadInput(f"The payload is not valid JSON: {err.msg} at line {err.lineno} column "
                       f"{err.colno}. Nothing was changed.") from None


@action
async def add(request: Request, session: Session, form: FormData) -> Response:
    room = request.path_params["room"]
    values = {k: field_text(form, k) for k in ("queue", "schedule", "timezone", "payload",
                                               "name")}
    with state(request).keeping_draft(session, "add", values):
        if not values["queue"].strip():
            raise BadInput("Name the queue the task sends to.")
        task = await session.client.scheduler.add(
            room=room, queue=values["queue"].strip(), schedule=values["schedule"].strip(),
            timezone=values["timezone"].strip() or "UTC", payload=_payload(values["payload"]),
            name=values["name"].strip())
    state(request).flash(session, "ok", f"Task {task.spec.name or task.id} added.")
    return back(f"/rooms/{room}/tasks/{task.id}")


def _task_url(request: Request) -> str:
    return f"/rooms/{request.path_params['room']}/tasks/{request.path_params['task_id']}"


@action
async def toggle(request: Request, session: Session, form: FormData) -> Response:
    task = await _task(request, session)
    updated = task_to_dict(await session.client.scheduler.update(task["id"],
                                                                 active=not task["active"]))
    state(request).flash(session, "ok", f"Task {task['name'] or task['id']} is now "
                                        f"{'active' if updated['active'] else 'paused'}.")
    return back(field_text(form, "back") or _task_url(request))


@action
async def run_now(request: Request, session: Session, form: FormData) -> Response:
    task = await _task(request, session)
    run = run_to_dict(await session.client.scheduler.trigger(task["id"]))
    outcome = run["outcome"] + (f" as message {run['message_id']}" if run["message_id"] else "")
    state(request).flash(session, "ok", f"Ran {task['name'] or task['id']} now: {outcome}.")
    return back(field_text(form, "back") or _task_url(request))


@action
async def edit(request: Request, session: Session, form: FormData) -> Response:
    task = await _task(request, session)
    values = {k: field_text(form, k) for k in ("schedule", "timezone", "payload", "name")}
    with state(request).keeping_draft(session, "edit", values):
        payload = _payload(values["payload"])
        await session.client.scheduler.update(
            task["id"], schedule=values["schedule"].strip(),
            timezone=values["timezone"].strip() or "UTC", payload=payload,
            name=values["name"].strip())
    state(request).flash(session, "ok", "Task saved.")
    return back(_task_url(request))


_T = "/rooms/{room}/tasks"
routes = [
    Route(_T, tasks_page, methods=["GET"]),
    Route(_T, add, methods=["POST"]),
    Route(_T + "/_list", tasks_partial, methods=["GET"]),
    Route(_T + "/_preview", preview_partial, methods=["GET"]),
    Route(_T + "/{task_id}", task_page, methods=["GET"]),
    Route(_T + "/{task_id}/_runs", runs_partial, methods=["GET"]),
    Route(_T + "/{task_id}/toggle", toggle, methods=["POST"]),
    Route(_T + "/{task_id}/run", run_now, methods=["POST"]),
    Route(_T + "/{task_id}/edit", edit, methods=["POST"]),
]
