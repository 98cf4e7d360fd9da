"""Signing in and out.

- ``POST /login/code`` (``Authorization: Bearer <token>``, what `meshq studio url` calls):
  the Studio checks the token with one call to the server, then answers a one-time code.
- ``GET /login/link?code=…``: the code becomes a session cookie; the browser goes to /.
- ``GET /login`` / ``POST /login``: a form for a pasted token. Before a session exists, its
  CSRF check is a double-submit cookie (a random value in a cookie and in the form).
- ``POST /logout``.

The session cookie is HttpOnly and SameSite=Lax, and holds only a random id; the token
stays in the Studio's memory and is sent nowhere but to the meshq server.
"""

from __future__ import annotations

import hmac
import secrets

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from meshq.studio.errors import rpc_message
from meshq.studio.sessions import Session
from meshq.studio.web import (
    SESSION_COOKIE,
    action,
    current_session,
    field_text,
    render,
    state,
)

LOGIN_CSRF_COOKIE = "meshq_studio_login"


async def _check_token(request: Request, token: str) -> str:
    """"" when the server accepts ``token``; otherwise why not."""
    client = state(request).sessions.client_for(token)
    if not token.isascii() or not token.isprintable():
        await client.close()
        return "a token is one line of printable ASCII (as `meshq token mint` prints it)"
    try:
        await client.rooms.list()
    except grpc.aio.AioRpcError as err:
        return rpc_message(err)
    finally:
        await client.close()
    return ""


def _signed_in(request: Request, session: Session) -> Response:
    response = RedirectResponse("/", status_code=303)
    # A browser-session cookie: it outlives the Studio's session, so a page opened after
    # the token expired can say that the session ended (and drop the cookie).
    response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def issue_code(request: Request) -> Response:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        return JSONResponse({"error": "send the token as 'Authorization: Bearer <token>'"},
                            status_code=401)
    token = auth[7:].strip()
    problem = await _check_token(request, token)
    if problem:
        return JSONResponse({"error": problem}, status_code=401)
    return JSONResponse({"code": state(request).codes.issue(token)},
                        headers={"Cache-Control": "no-store"})


async def redeem_link(request: Request) -> Response:
    token = state(request).codes.redeem(request.query_params.get("code", ""))
    if token is None:
        return _login_form(request, "This login link is used up or expired: run "
                                    "`meshq studio url` again, or paste a token.", status=400)
    return _signed_in(request, await state(request).sessions.create(token))


def _login_form(request: Request, message: str = "", status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, message=message,
                      failed=status >= 400, login_csrf=nonce)
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict",
                        path="/login")
    response.headers["Cache-Control"] = "no-store"
    return response


async def login_page(request: Request) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request, request.query_params.get("reason", ""))


async def login_submit(request: Request) -> Response:
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, field_text(form, "csrf")):
        return _login_form(request, "Refused: the login form was stale (missing CSRF "
                                    "token). Try again.", status=403)
    token = field_text(form, "token").strip()
    if not token:
        return _login_form(request, "Paste a token (for example from `meshq token mint`).",
                           status=400)
    problem = await _check_token(request, token)
    if problem:
        return _login_form(request, f"That token was refused. {problem}", status=401)
    return _signed_in(request, await state(request).sessions.create(token))


@action
async def logout(request: Request, session: Session, form: object) -> Response:
    await state(request).end_session(session.id)
    response = RedirectResponse("/login?reason=Signed+out.", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/login/code", issue_code, methods=["POST"]),
    Route("/login/link", redeem_link, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
]
