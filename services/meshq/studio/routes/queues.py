"""A queue: live counts and charts, the next ready messages, dead letters, send, and the
open / close / drain / redrive actions."""

from __future__ import annotations

import json
from typing import Any

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from meshq.api.messages import QueueInfo, ReceivedMessage
from meshq.api.queues import QueuesClient
from meshq.studio import deadletters
from meshq.studio.charts import line_chart
from meshq.studio.errors import BadInput, rpc_message
from meshq.studio.paging import page_number, paginate
from meshq.studio.sampler import rates
from meshq.studio.sessions import Session
from meshq.studio.web import action, back, field_text, page, render, state

PEEK_COUNT = 10  # ready messages shown on the queue page
DEAD_PER_PAGE = 20
DETAIL_SCAN = 1000  # messages peeked to find one for its detail page


def _names(request: Request) -> tuple[str, str]:
    return request.path_params["room"], request.path_params["queue"]


def _base(room: str, queue: str) -> str:
    return f"/rooms/{room}/queues/{queue}"


async def queue_info(queues: QueuesClient, queue: str) -> QueueInfo:
    """The queue's counts (NOT_FOUND as the server words it when it is missing)."""
    for info in await queues.list():  # NOT_FOUND from the server for an unknown room
        if info.name == queue:
            return info
    raise BadInput(f"Not found: queue {queue!r} is not in room {queues.room!r}", status=404)


async def _section(call: Any) -> tuple[Any, str]:
    """(result, "") or (None, why the server refused): one refused part of a page does not
    hide the rest."""
    try:
        return await call, ""
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return None, rpc_message(err)


def _charts(request: Request, room: str, queue: str) -> list[Any]:
    samples = state(request).sampler.series(room, queue)
    times = [s.at for s in samples]
    depth = line_chart("Messages", times, [
        ("ready", "s-ready", [s.depth for s in samples]),
        ("in flight", "s-flight", [s.in_flight for s in samples]),
        ("dead-lettered", "s-dead", [s.dead_lettered for s in samples])])
    rate = rates(samples)
    speed = line_chart("Per second", [r.at for r in rate], [
        ("sent", "s-sent", [r.send for r in rate]), ("acked", "s-acked", [r.ack for r in rate])])
    return [depth, speed]


@page
async def queue_page(request: Request, session: Session) -> Response:
    room, queue = _names(request)
    queues = session.client.room(room).queues
    info = await queue_info(queues, queue)
    draft = state(request).take_draft(session, "send")
    return render(request, "queue.html", session, room=room, queue=queue, info=info,
                  base=_base(room, queue), **await _live(request, queues, room, queue),
                  draft=draft)


@page
async def live_partial(request: Request, session: Session) -> Response:
    room, queue = _names(request)
    queues = session.client.room(room).queues
    info = await queue_info(queues, queue)
    return render(request, "_queue_live.html", session, room=room, queue=queue, info=info,
                  base=_base(room, queue), **await _live(request, queues, room, queue))


async def _live(request: Request, queues: QueuesClient, room: str, queue: str) -> dict[str, Any]:
    peeked, peek_error = await _section(queues.peek(queue, PEEK_COUNT))
    return {"peeked": peeked or [], "peek_error": peek_error,
            "charts": _charts(request, room, queue) if state(request).sampler.enabled else [],
            "rate": state(request).sampler.latest_rate(room, queue)}


@page
async def dead_partial(request: Request, session: Session) -> Response:
    room, queue = _names(request)
    queues = session.client.room(room).queues
    info = await queue_info(queues, queue)
    number = page_number(request)
    dead: list[ReceivedMessage] = []
    error = ""
    if info.dead_lettered:
        wanted = min(deadletters.SCAN_LIMIT, number * DEAD_PER_PAGE)
        got, error = await _section(queues.peek(deadletters.dlq(queue), wanted))
        dead = got or []
    listed = paginate(dead, number, DEAD_PER_PAGE)
    return render(request, "_dead.html", session, room=room, queue=queue, info=info,
                  base=_base(room, queue), dead=listed, dead_error=error,
                  more=info.dead_lettered > len(dead))


def _find(messages: list[ReceivedMessage], message_id: str) -> ReceivedMessage | None:
    return next((m for m in messages if m.message_id == message_id), None)


@page
async def message_page(request: Request, session: Session) -> Response:
    room, queue = _names(request)
    message_id = request.path_params["message_id"]
    queues = session.client.room(room).queues
    dead = request.query_params.get("dead") == "1"
    source = deadletters.dlq(queue) if dead else queue
    message = _find(await queues.peek(source, DETAIL_SCAN), message_id)
    where = None if message else await queues.message_state(source, message_id)
    body = json.dumps(message.body, indent=2, ensure_ascii=False, sort_keys=True) \
        if message else ""
    return render(request, "message.html", session, room=room, queue=queue, dead=dead,
                  base=_base(room, queue), message=message, message_id=message_id,
                  where=where, body=body,
                  last_error=message.headers.get(deadletters.LAST_ERROR_HEADER, "") if message else "")


def parse_headers(text: str) -> dict[str, str]:
    """``key: value`` (or ``key=value``) lines."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":") if ":" in line else line.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"Header line {number} is not 'key: value': {line.strip()[:60]!r}")
        headers[key.strip()] = value.strip()
    return headers


def parse_body(text: str) -> Any:
    if not text.strip():
        raise BadInput("The body is empty: write a JSON value, e.g. {\"task\": \"poem\"}.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"The body is not valid JSON: {err.msg} at line {err.lineno} "
                       f"column {err.colno}. Nothing was sent.") from None


def parse_delay(text: str) -> float:
    try:
        delay = float(text or 0)
    except ValueError:
        raise BadInput(f"Delay must be a number of seconds, not {text!r}.") from None
    if not 0 <= delay <= 30 * 86400:
        raise BadInput("Delay must be between 0 and 2592000 seconds (30 days).")
    return delay


@action
async def send(request: Request, session: Session, form: FormData) -> Response:
    room, queue = _names(request)
    values = {k: field_text(form, k) for k in ("body", "headers", "delay")}
    with state(request).keeping_draft(session, "send", values):
        body = parse_body(values["body"])
        headers = parse_headers(values["headers"])
        delay = parse_delay(values["delay"])
        message_id = await session.client.room(room).queues.send(
            queue, body, create=False, headers=headers, delay=delay)
    state(request).flash(session, "ok", f"Sent message {message_id}.")
    return back(_base(room, queue))


_CONFIRM = {
    "open": ("Open queue {q}?", "Reopens the queue: Send and Receive work again.", "Open queue"),
    "close": ("Close queue {q}?", "Send and Receive are refused until the queue is reopened. "
              "Messages stay.", "Close queue"),
    "drain": ("Drain queue {q}?", "Every message of the queue (ready, delayed and in flight) "
              "is removed for good. Its dead letters stay.", "Drain queue"),
    "redrive": ("Redrive all dead letters of {q}?", "Every dead letter moves back to the queue "
                "with its attempts reset.", "Redrive all"),
    "delete-dead": ("Delete dead letter {m}?", "The message is removed for good.",
                    "Delete message"),
}


@page
async def confirm(request: Request, session: Session) -> Response:
    room, queue = _names(request)
    verb = request.path_params["verb"]
    if verb not in _CONFIRM:
        return render(request, "error.html", session, status=404,
                      message=f"Not found: no action {verb!r}")
    message_id = request.query_params.get("message", "")
    title, text, button = _CONFIRM[verb]
    base = _base(room, queue)
    target = f"{base}/dead/{message_id}/delete" if verb == "delete-dead" else f"{base}/{verb}"
    return render(request, "confirm.html", session, title=title.format(q=queue, m=message_id),
                  message=text, action=target, button=button, cancel=base, fields={})


@action
async def lifecycle(request: Request, session: Session, form: FormData) -> Response:
    room, queue = _names(request)
    verb = request.path_params["verb"]
    queues = session.client.room(room).queues
    if verb == "open":
        await queues.open(queue)
        text = f"Queue {queue} is open."
    elif verb == "close":
        await queues.close(queue)
        text = f"Queue {queue} is closed: Send and Receive are refused until it is reopened."
    elif verb == "drain":
        text = f"Drained {await queues.drain(queue)} messages from {queue}."
    elif verb == "redrive":
        text = f"Redrove {await queues.redrive(queue)} dead letters to {queue}."
    else:
        raise BadInput(f"no action {verb!r}")
    state(request).flash(session, "ok", text)
    return back(_base(room, queue))


@action
async def redrive_one(request: Request, session: Session, form: FormData) -> Response:
    room, queue = _names(request)
    message_id = request.path_params["message_id"]
    new_id = await deadletters.redrive_one(session.client.room(room).queues, queue, message_id)
    state(request).flash(session, "ok", f"Redrove dead letter {message_id} to {queue} "
                                        f"(now message {new_id}).")
    return back(_base(room, queue))


@action
async def delete_dead(request: Request, session: Session, form: FormData) -> Response:
    room, queue = _names(request)
    message_id = request.path_params["message_id"]
    await deadletters.delete_one(session.client.room(room).queues, queue, message_id)
    state(request).flash(session, "ok", f"Deleted dead letter {message_id}.")
    return back(_base(room, queue))


_Q = "/rooms/{room}/queues/{queue}"
routes = [
    Route(_Q, queue_page, methods=["GET"]),
    Route(_Q + "/_live", live_partial, methods=["GET"]),
    Route(_Q + "/_dead", dead_partial, methods=["GET"]),
    Route(_Q + "/messages/{message_id}", message_page, methods=["GET"]),
    Route(_Q + "/send", send, methods=["POST"]),
    Route(_Q + "/dead/{message_id}/redrive", redrive_one, methods=["POST"]),
    Route(_Q + "/dead/{message_id}/delete", delete_dead, methods=["POST"]),
    Route(_Q + "/confirm/{verb}", confirm, methods=["GET"]),
    Route(_Q + "/{verb}", lifecycle, methods=["POST"]),
]
