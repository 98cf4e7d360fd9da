"""The Starlette application: routes, static files, error pages and security headers."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshq.studio.routes import auth, pools, queues, rooms, storage, tasks
from meshq.studio.web import StudioState, current_session, error_page

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# Only the Studio's own files run or load; no page can be framed; forms post only here.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (a plain ASGI middleware: it never buffers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = {404: "Not found: no such page in the Studio.",
            405: "That is not something this page does (wrong method)."}.get(
        exc.status_code, f"HTTP {exc.status_code}")
    return error_page(request, await current_session(request), exc.status_code, text)


async def _crash(request: Request, exc: Exception) -> Response:
    logger.error("studio: %s %s failed", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("Something went wrong in the Studio; its log has the details.",
                             status_code=500)


def build_app(studio: StudioState) -> Starlette:
    app = Starlette(
        routes=[*auth.routes, *rooms.routes, *queues.routes, *tasks.routes, *storage.routes,
                *pools.routes, Mount("/static", StaticFiles(directory=STATIC_DIR),
                                     name="static")],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )
    app.state.studio = studio
    return app
