"""What every page and action shares: the session, CSRF, flash messages and error pages.

``page`` wraps a GET handler: no session, no page (the browser goes to /login; an htmx
poll is told to navigate there). ``action`` wraps a POST handler: it also checks the
session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``) before anything else
runs. Both turn a refused RPC into a message on the page (the server's reason), and any
other failure into a plain error page; the trace goes to the Studio's log only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from meshq.studio.deadletters import LAST_ERROR_HEADER
from meshq.studio.errors import BadInput, http_status, rpc_message
from meshq.studio.sampler import Sampler
from meshq.studio.sessions import LoginCodes, Session, SessionStore

logger = logging.getLogger(__name__)

SESSION_COOKIE = "meshq_studio"
CSRF_HEADER = "x-csrf-token"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class StudioState:
    """What the routes share: sessions, login codes, the charts' sampler."""

    sessions: SessionStore
    codes: LoginCodes
    sampler: Sampler
    flashes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Messages for a session's next page, by session id: (kind, text)."""

    drafts: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    """What a refused form held, to fill it again: by (session id, form name)."""

    def keep_draft(self, session: Session, form_name: str, values: dict[str, str]) -> None:
        self.drafts[(session.id, form_name)] = values

    @contextlib.contextmanager
    def keeping_draft(self, session: Session, form_name: str,
                      values: dict[str, str]) -> Iterator[None]:
        """Keep the form's ``values`` if the body refuses them (``BadInput``) or the server
        does (an RPC error), so the page shown next fills the form again; the error goes on."""
        try:
            yield
        except (BadInput, grpc.aio.AioRpcError):
            self.keep_draft(session, form_name, values)
            raise

    def take_draft(self, session: Session, form_name: str) -> dict[str, str]:
        return self.drafts.pop((session.id, form_name), {})

    async def end_session(self, session_id: str) -> None:
        await self.sessions.end(session_id)
        self.forget(session_id)

    def forget(self, session_id: str) -> None:
        """Drop what is kept for a session that ended."""
        self.flashes.pop(session_id, None)
        for key in [k for k in self.drafts if k[0] == session_id]:
            del self.drafts[key]

    def flash(self, session: Session, kind: str, text: str) -> None:
        self.flashes.setdefault(session.id, []).append((kind, text))

    def take_flashes(self, session: Session) -> list[tuple[str, str]]:
        return self.flashes.pop(session.id, [])


def state(request: Request) -> StudioState:
    return request.app.state.studio  # type: ignore[no-any-return]


async def current_session(request: Request) -> Session | None:
    return await state(request).sessions.get(request.cookies.get(SESSION_COOKIE))


def render(request: Request, template: str, session: Session | None, status: int = 200,
           **context: Any) -> Response:
    """A template with the session, its CSRF token and pending flash messages.

    Only a whole page takes the flashes (they show on top of it, in base.html). An htmx
    request (a list refreshing itself, a preview following the typing) never does: one
    still in flight from the page a form was posted from would otherwise take the message
    meant for the page the POST redirects to, and drop it, since a partial has no place
    to show it.
    """
    flashes = (state(request).take_flashes(session)
               if session is not None and not is_htmx(request) else [])
    return TEMPLATES.TemplateResponse(request, template, {
        "session": session, "csrf": session.csrf if session else "", "flashes": flashes,
        **context}, status_code=status)


def error_page(request: Request, session: Session | None, status: int, message: str) -> Response:
    template = "_error.html" if is_htmx(request) else "error.html"
    return render(request, template, session, status=status, message=message)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


ENDED = ("Your session ended (its token expired, you signed out, or the Studio restarted): "
         "sign in again.")


def to_login(request: Request, reason: str = "") -> Response:
    """To the login page (an htmx request is told to go there); a cookie of a session that
    ended is dropped, saying why."""
    stale = bool(request.cookies.get(SESSION_COOKIE))
    if not reason and stale:
        reason = ENDED
    target = "/login" + (f"?reason={quote(reason)}" if reason else "")
    response: Response = (Response(status_code=401, headers={"HX-Redirect": target})
                          if is_htmx(request) else RedirectResponse(target, status_code=303))
    if stale:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def back(url: str) -> Response:
    """After a POST: see the result with a GET (so a reload repeats nothing). Only a path
    of the Studio: a form's ``back`` field can never send the browser to another site."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        url = "/"
    return RedirectResponse(url, status_code=303)


Handler = Callable[..., Awaitable[Response]]


async def _guarded(request: Request, session: Session, call: Callable[[], Awaitable[Response]],
                   on_refused: Callable[[str, int], Response]) -> Response:
    try:
        return await call()
    except BadInput as err:
        return on_refused(str(err), err.status)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            await state(request).end_session(session.id)
            return to_login(request, rpc_message(err))
        return on_refused(rpc_message(err), http_status(err))
    except Exception:
        logger.exception("studio: %s %s failed", request.method, request.url.path)
        return on_refused("Something went wrong in the Studio; its log has the details.", 500)


def page(handler: Handler) -> Handler:
    """A GET that needs a session: ``handler(request, session)``."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return to_login(request)
        return await _guarded(request, session, lambda: handler(request, session),
                              lambda text, status: error_page(request, session, status, text))

    return wrapper


def action(handler: Handler) -> Handler:
    """A POST that needs a session and its CSRF token: ``handler(request, session, form)``.

    A refusal is flashed and the browser goes back to the page it came from (the form's
    ``back`` field, else the Referer), where the message shows; nothing was changed.
    """

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return to_login(request)
        form = await request.form()
        presented = request.headers.get(CSRF_HEADER) or _text(form, "csrf")
        if not session.csrf_matches(presented):
            return error_page(request, session, 403,
                              "Refused: this form is stale or did not come from the Studio "
                              "(missing or wrong CSRF token). Reload the page and try again.")

        def refused(text: str, status: int) -> Response:
            if is_htmx(request):
                return error_page(request, session, status, text)
            state(request).flash(session, "error", text)
            return back(_return_to(request, form))

        return await _guarded(request, session, lambda: handler(request, session, form), refused)

    return wrapper


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def field_text(form: FormData, key: str) -> str:
    """A text field of a submitted form ("" when missing)."""
    return _text(form, key)


def _return_to(request: Request, form: FormData) -> str:
    target = _text(form, "back") or request.headers.get("referer", "") or "/"
    # The Referer is a full URL: keep its path when it is the Studio's own (back() refuses
    # anything that is not a path).
    if "://" in target:
        host = str(request.base_url).rstrip("/")
        target = target[len(host):] if target.startswith(host + "/") else "/"
    return target


# -- template helpers -------------------------------------------------------------------------

def when(unix: float | None) -> str:
    """An instant as UTC text ("—" for none)."""
    if not unix:
        return "—"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(seconds: float | None) -> str:
    """A duration as "4s", "3m 20s", "2h 5m", "3d 4h"."""
    if not seconds or seconds <= 0:
        return "—"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def since(unix: float) -> str:
    return age(time.time() - unix)


TEMPLATES.env.filters.update(when=when, age=age, size=size, since=since)
TEMPLATES.env.globals.update(quote=lambda s: quote(str(s), safe=""),
                             LAST_ERROR_HEADER=LAST_ERROR_HEADER)
