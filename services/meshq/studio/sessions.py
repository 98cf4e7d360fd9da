"""Sign-in sessions and one-time login codes, kept in memory only.

A session holds the person's token and an SDK client made with it; the browser holds only
a random session id (an HttpOnly cookie) and sees the session's CSRF token in the page. A
session ends at logout, at its token's expiry (read from the token's ``exp`` claim; the
server still verifies every call), or after ``max_seconds``. A restart signs everyone out,
which is all the state the Studio has to lose.

``meshq studio url`` gets a login code by POSTing its token to the Studio; the code is 32
random bytes, good for one exchange within ``code_ttl`` seconds, so the link it builds can
leak from a terminal's scroll-back without giving the token away.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from meshq.api.client import MeshqClient

logger = logging.getLogger(__name__)

MAX_SESSIONS = 1000  # signed-in browsers at once; each holds one channel to the server


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    name: str
    """The token's participant name (shown in the header)."""
    expires_at: float
    """Seconds since the Unix epoch."""
    client: MeshqClient = field(repr=False)

    def csrf_matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented or "", self.csrf)


def token_claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified: only its name and expiry are read, for display and to
    end the session in time. The server verifies the token on every call."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


class SessionStore:
    """Sessions by id; expired ones are dropped when looked up or swept."""

    def __init__(self, make_client: Callable[[str], MeshqClient], *, max_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._make_client = make_client
        self._max_seconds = max_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def client_for(self, token: str) -> MeshqClient:
        """A client with ``token`` that belongs to no session (the caller closes it)."""
        return self._make_client(token)

    async def create(self, token: str) -> Session:
        """A new session for ``token``; past ``MAX_SESSIONS`` the oldest one ends."""
        while len(self._sessions) >= MAX_SESSIONS:
            await self.end(next(iter(self._sessions)))
        claims = token_claims(token)
        now = self._clock()
        expires = now + self._max_seconds
        exp = claims.get("exp")
        if isinstance(exp, int | float):
            expires = min(expires, float(exp))
        session = Session(id=secrets.token_urlsafe(32), token=token,
                          csrf=secrets.token_urlsafe(32), name=str(claims.get("name") or "?"),
                          expires_at=expires, client=self._make_client(token))
        self._sessions[session.id] = session
        logger.info("studio: %s signed in", session.name)
        return session

    async def get(self, session_id: str | None) -> Session | None:
        session = self._sessions.get(session_id or "")
        if session is None:
            return None
        if session.expires_at <= self._clock():
            await self.end(session.id)
            return None
        return session

    async def end(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            await session.client.close()

    async def sweep(self) -> list[str]:
        """End the expired sessions; their ids."""
        now = self._clock()
        ended = [s.id for s in self._sessions.values() if s.expires_at <= now]
        for session_id in ended:
            await self.end(session_id)
        return ended

    async def close(self) -> None:
        for session_id in list(self._sessions):
            await self.end(session_id)


class LoginCodes:
    """One-time codes, each standing for a token for ``ttl`` seconds."""

    def __init__(self, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._codes: dict[str, tuple[str, float]] = {}

    def issue(self, token: str) -> str:
        self._drop_expired()
        code = secrets.token_urlsafe(32)
        self._codes[code] = (token, self._clock() + self._ttl)
        return code

    def redeem(self, code: str) -> str | None:
        """The token the code stands for, once; None when unknown, used or expired."""
        self._drop_expired()
        entry = self._codes.pop(code, None)
        return entry[0] if entry else None

    def _drop_expired(self) -> None:
        now = self._clock()
        for code in [c for c, (_, until) in self._codes.items() if until <= now]:
            del self._codes[code]
