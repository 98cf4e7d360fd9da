"""The rooms list and one room's page (its queues, with links to tasks, storage, pools)."""

from __future__ import annotations

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from meshq.studio import deadletters
from meshq.studio.errors import BadInput, rpc_message
from meshq.studio.paging import page_number, paginate
from meshq.studio.sessions import Session
from meshq.studio.web import action, back, field_text, page, render, state


@page
async def rooms_page(request: Request, session: Session) -> Response:
    return await _rooms(request, session, "rooms.html")


@page
async def rooms_partial(request: Request, session: Session) -> Response:
    return await _rooms(request, session, "_rooms.html")


def name_filter(request: Request) -> str:
    """The rooms page's ``?q=``: only rooms whose name contains it (any case)."""
    return request.query_params.get("q", "").strip()


async def _rooms(request: Request, session: Session, template: str) -> Response:
    q = name_filter(request)
    rooms = sorted((r for r in await session.client.rooms.list()
                    if q.casefold() in r.name.casefold()), key=lambda r: r.name)
    return render(request, template, session, rooms=paginate(rooms, page_number(request)), q=q)


@action
async def create_room(request: Request, session: Session, form: FormData) -> Response:
    name = field_text(form, "name").strip()
    if not name:
        raise BadInput("Give the new room a name.")
    await session.client.rooms.create(name)
    state(request).flash(session, "ok", f"Room {name} created.")
    return back(f"/rooms/{name}")


@page
async def confirm_delete_room(request: Request, session: Session) -> Response:
    room = request.path_params["room"]
    return render(request, "confirm.html", session, title=f"Delete room {room}?",
                  message=f"Room {room}, its queues and their messages will be deleted. "
                          "This cannot be undone.",
                  action=f"/rooms/{room}/delete", button="Delete room", cancel=f"/rooms/{room}",
                  fields={"force": "1"})


@action
async def delete_room(request: Request, session: Session, form: FormData) -> Response:
    room = request.path_params["room"]
    await session.client.rooms.delete(room, force=field_text(form, "force") == "1")
    state(request).flash(session, "ok", f"Room {room} deleted.")
    return back("/")


@page
async def room_page(request: Request, session: Session) -> Response:
    return await _room(request, session, "room.html")


@page
async def queues_partial(request: Request, session: Session) -> Response:
    return await _room(request, session, "_queues.html")


async def _room(request: Request, session: Session, template: str) -> Response:
    """The room's queues; a token without queue grants still gets the page (and its tabs to
    storage, tasks and pools) with the server's reason in place of the list."""
    name = request.path_params["room"]
    await session.client.rooms.get(name)  # NOT_FOUND for an unknown room, any grant suffices
    queues, error = [], ""
    try:
        queues = [q for q in await session.client.room(name).queues.list()
                  if not deadletters.is_dlq(q.name)]
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.PERMISSION_DENIED:
            raise
        error = rpc_message(err)
    sampler = state(request).sampler
    rates = {q.name: sampler.latest_rate(name, q.name) for q in queues}
    return render(request, template, session, room=name, queues=paginate(queues,
                  page_number(request)), rates=rates, charts=sampler.enabled,
                  queues_error=error)


routes = [
    Route("/", rooms_page, methods=["GET"]),
    Route("/_rooms", rooms_partial, methods=["GET"]),
    Route("/rooms", create_room, methods=["POST"]),
    Route("/rooms/{room}", room_page, methods=["GET"]),
    Route("/rooms/{room}/_queues", queues_partial, methods=["GET"]),
    Route("/rooms/{room}/delete", confirm_delete_room, methods=["GET"]),
    Route("/rooms/{room}/delete", delete_room, methods=["POST"]),
]
