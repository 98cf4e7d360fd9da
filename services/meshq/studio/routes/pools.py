"""A room's worker pools: replicas with their state and counts, and scaling."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from meshq.studio.errors import BadInput
from meshq.studio.paging import page_number, paginate
from meshq.studio.sessions import Session
from meshq.studio.web import action, back, field_text, page, render, state

MAX_REPLICAS = 1000  # the form refuses more before asking the server


@page
async def pools_page(request: Request, session: Session) -> Response:
    return await _pools(request, session, "pools.html")


@page
async def pools_partial(request: Request, session: Session) -> Response:
    return await _pools(request, session, "_pools.html")


async def _pools(request: Request, session: Session, template: str) -> Response:
    room = request.path_params["room"]
    await session.client.rooms.get(room)  # NOT_FOUND for an unknown room
    pools = sorted(await session.client.pools.list(room=room), key=lambda p: p.name)
    return render(request, template, session, room=room,
                  pools=paginate(pools, page_number(request), 10))


def _count(form: FormData, key: str) -> int | None:
    text = field_text(form, key).strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{key.replace('_', ' ')} must be a whole number, not {text!r}.") from None
    if not 0 <= value <= MAX_REPLICAS:
        raise BadInput(f"{key.replace('_', ' ')} must be between 0 and {MAX_REPLICAS}.")
    return value


@action
async def scale(request: Request, session: Session, form: FormData) -> Response:
    room, name = request.path_params["room"], request.path_params["pool"]
    pool = await session.client.pools.get(name, room=room)  # pool names are per room
    if pool.room != room:
        raise BadInput(f"Not found: pool {name} is not in room {room}", status=404)
    counts = {k: _count(form, k) for k in ("replicas", "min_replicas", "max_replicas")}
    if all(v is None for v in counts.values()):
        raise BadInput("Give a number of replicas (or autoscaling bounds).")
    scaled = await session.client.pools.scale(
        name, room=room, replicas=counts["replicas"], min_replicas=counts["min_replicas"],
        max_replicas=counts["max_replicas"])
    state(request).flash(session, "ok", f"Pool {name}: {scaled.replicas_wanted} replicas wanted.")
    return back(f"/rooms/{room}/pools")


routes = [
    Route("/rooms/{room}/pools", pools_page, methods=["GET"]),
    Route("/rooms/{room}/pools/_list", pools_partial, methods=["GET"]),
    Route("/rooms/{room}/pools/{pool}/scale", scale, methods=["POST"]),
]
