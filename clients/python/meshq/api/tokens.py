"""Participant tokens: who a caller is and what it may do, as a signed JWT.

The shape is the reference platform's ``ParticipantToken``: a ``name`` and a list of
``grants``, each ``{name, scope}``:

- ``room``: one room the token is for (``"*"``: every room, for admin tokens); a token may carry
  several room grants;
- ``role``: a free-form role ("agent", "user", "admin"), recorded, not used to authorise;
- ``api``: an ``ApiScope`` saying which APIs of those rooms the token may call.

``to_jwt`` signs with HS256 and always sets ``exp`` (default one hour), ``iat`` and ``aud``
("meshq"), so code written for the reference::

    ParticipantToken(name="sample-participant", grants=[
        ParticipantGrant(name="room", scope=room_name),
        ParticipantGrant(name="role", scope="agent"),
        ParticipantGrant(name="api", scope=ApiScope.agent_default()),
    ]).to_jwt(api_key=api_key)

mints a token the meshq server accepts. See docs/security.md for what each grant allows.
"""

from __future__ import annotations

import fnmatch
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import jwt

DEFAULT_TTL = timedelta(hours=1)  # tokens without an explicit ttl live one hour
DEFAULT_AUDIENCE = "meshq"
ALGORITHM = "HS256"
ALL_ROOMS = "*"  # room grant scope naming every room
ALL_QUEUES = "*"  # queue pattern matching every queue
WHOLE_ROOM = ""  # storage prefix covering every path of the room


class InvalidToken(ValueError):
    """The token is malformed, wrongly signed, for another audience, or expired."""


class ExpiredToken(InvalidToken):
    """The token has expired."""


class WrongAudience(InvalidToken):
    """The token was minted for another audience."""


class BadSignature(InvalidToken):
    """The token's signature does not match the API key."""


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidToken(f"{what} must be a list of strings")
    return tuple(value)


def _prefix_matches(prefix: str, path: str) -> bool:
    """True when ``path`` is ``prefix`` or lies below it ("docs" covers "docs/a", not "docsx")."""
    prefix = prefix.strip("/")
    return prefix == WHOLE_ROOM or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, kw_only=True)
class ApiScope:
    """Which APIs a token may call in its rooms. Immutable; the ``allow_*`` builders copy.

    Queue patterns are shell globs over queue names (``"*"`` every queue, ``"jobs-*"``);
    a dead-letter queue is a queue of its own (``"jobs.dlq"``, matched by ``"jobs*"``).
    Storage prefixes are room-relative folders (``""`` the whole room, ``"docs"`` covers
    ``docs`` and everything below it, not ``docs2``).
    """

    queue_send: tuple[str, ...] = ()
    """Queues the token may Send to."""
    queue_receive: tuple[str, ...] = ()
    """Queues the token may Receive / Subscribe / Ack / Nack / ExtendLease / Peek / GetMessage."""
    queue_manage: tuple[str, ...] = ()
    """Queues the token may Open / Close / Drain / Delete / Redrive."""
    storage_read: tuple[str, ...] = ()
    """Path prefixes the token may read, list and stat."""
    storage_write: tuple[str, ...] = ()
    """Path prefixes the token may write, delete and move into or out of."""
    scheduler: bool = False
    """May manage the room's scheduled tasks (and so enqueue into any of its queues)."""
    workers: bool = False
    """May start, scale and stop worker pools in the room (runs installed worker code)."""
    admin: bool = False
    """Everything in the token's rooms, plus creating and deleting those rooms."""

    # -- presets ---------------------------------------------------------------------------

    @classmethod
    def agent_default(cls) -> ApiScope:
        """What an agent needs: send and receive on every queue of the room, read and write
        all of its storage, and manage its scheduled tasks. Not: queue management (drain,
        delete), worker pools, or admin."""
        return cls(queue_send=(ALL_QUEUES,), queue_receive=(ALL_QUEUES,),
                   storage_read=(WHOLE_ROOM,), storage_write=(WHOLE_ROOM,), scheduler=True)

    @classmethod
    def full(cls) -> ApiScope:
        """Every API, admin included."""
        return cls(queue_send=(ALL_QUEUES,), queue_receive=(ALL_QUEUES,),
                   queue_manage=(ALL_QUEUES,), storage_read=(WHOLE_ROOM,),
                   storage_write=(WHOLE_ROOM,), scheduler=True, workers=True, admin=True)

    admin_scope = full

    @classmethod
    def none(cls) -> ApiScope:
        """No API at all (a start for the builders)."""
        return cls()

    # -- builders --------------------------------------------------------------------------

    def allow_send(self, *patterns: str) -> ApiScope:
        return replace(self, queue_send=self.queue_send + patterns)

    def allow_receive(self, *patterns: str) -> ApiScope:
        return replace(self, queue_receive=self.queue_receive + patterns)

    def allow_queue_manage(self, *patterns: str) -> ApiScope:
        return replace(self, queue_manage=self.queue_manage + patterns)

    def allow_storage_read(self, *prefixes: str) -> ApiScope:
        return replace(self, storage_read=self.storage_read + prefixes)

    def allow_storage_write(self, *prefixes: str) -> ApiScope:
        return replace(self, storage_write=self.storage_write + prefixes)

    def allow_scheduler(self) -> ApiScope:
        return replace(self, scheduler=True)

    def allow_workers(self) -> ApiScope:
        return replace(self, workers=True)

    def allow_admin(self) -> ApiScope:
        return replace(self, admin=True)

    # -- checks ----------------------------------------------------------------------------

    def can_send(self, queue: str) -> bool:
        return self.admin or _matches_any(self.queue_send, queue)

    def can_receive(self, queue: str) -> bool:
        return self.admin or _matches_any(self.queue_receive, queue)

    def can_manage_queue(self, queue: str) -> bool:
        return self.admin or _matches_any(self.queue_manage, queue)

    def can_read(self, path: str) -> bool:
        return self.admin or any(_prefix_matches(p, path) for p in self.storage_read)

    def can_write(self, path: str) -> bool:
        return self.admin or any(_prefix_matches(p, path) for p in self.storage_write)

    @property
    def any_queue(self) -> bool:
        return self.admin or bool(self.queue_send or self.queue_receive or self.queue_manage)

    @property
    def any_storage(self) -> bool:
        return self.admin or bool(self.storage_read or self.storage_write)

    # -- claims ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "queues": {"send": list(self.queue_send), "receive": list(self.queue_receive),
                       "manage": list(self.queue_manage)},
            "storage": {"read": list(self.storage_read), "write": list(self.storage_write)},
            "scheduler": self.scheduler, "workers": self.workers, "admin": self.admin,
        }

    @classmethod
    def from_json(cls, data: Any) -> ApiScope:
        if not isinstance(data, dict):
            raise InvalidToken("the api grant's scope must be an object")
        queues = data.get("queues") or {}
        storage = data.get("storage") or {}
        if not isinstance(queues, dict) or not isinstance(storage, dict):
            raise InvalidToken("queues and storage of the api grant must be objects")
        flags = {k: data.get(k, False) for k in ("scheduler", "workers", "admin")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise InvalidToken("scheduler, workers and admin must be true or false")
        return cls(
            queue_send=_strings(queues.get("send"), "queues.send"),
            queue_receive=_strings(queues.get("receive"), "queues.receive"),
            queue_manage=_strings(queues.get("manage"), "queues.manage"),
            storage_read=_strings(storage.get("read"), "storage.read"),
            storage_write=_strings(storage.get("write"), "storage.write"),
            **flags,
        )


def _matches_any(patterns: tuple[str, ...], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass
class ParticipantGrant:
    """One grant: ``room`` (scope: a room name or "*"), ``role`` (scope: a role name) or
    ``api`` (scope: an ``ApiScope``)."""

    name: str
    scope: str | ApiScope | None = None

    def to_json(self) -> dict[str, Any]:
        scope = self.scope.to_json() if isinstance(self.scope, ApiScope) else self.scope
        return {"name": self.name, "scope": scope}

    @classmethod
    def from_json(cls, data: Any) -> ParticipantGrant:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise InvalidToken("each grant must be an object with a name")
        name, scope = data["name"], data.get("scope")
        if name == "api":
            return cls(name=name, scope=ApiScope.from_json(scope))
        if scope is not None and not isinstance(scope, str):
            raise InvalidToken(f"the scope of the {name!r} grant must be a string")
        return cls(name=name, scope=scope)


@dataclass
class ParticipantToken:
    """A participant's identity and grants; ``to_jwt`` signs it, ``from_jwt`` verifies one."""

    name: str
    grants: list[ParticipantGrant] = field(default_factory=list)
    expires_at: float | None = None
    """Seconds since the epoch; set by ``from_jwt`` (``to_jwt`` takes a ttl instead)."""
    issued_at: float | None = None
    token_id: str | None = None

    # -- grants ----------------------------------------------------------------------------

    def add_room_grant(self, room: str) -> ParticipantToken:
        self.grants.append(ParticipantGrant(name="room", scope=room))
        return self

    def add_role_grant(self, role: str) -> ParticipantToken:
        self.grants.append(ParticipantGrant(name="role", scope=role))
        return self

    def add_api_grant(self, scope: ApiScope) -> ParticipantToken:
        self.grants.append(ParticipantGrant(name="api", scope=scope))
        return self

    @property
    def rooms(self) -> tuple[str, ...]:
        """The rooms named by room grants ("*" for every room)."""
        return tuple(str(g.scope) for g in self.grants if g.name == "room" and g.scope)

    @property
    def room_name(self) -> str | None:
        return self.rooms[0] if self.rooms else None

    @property
    def role(self) -> str | None:
        roles = [g.scope for g in self.grants if g.name == "role" and isinstance(g.scope, str)]
        return roles[0] if roles else None

    @property
    def api(self) -> ApiScope:
        """The api grant's scope; a token without one may call no API (only see its rooms)."""
        for grant in self.grants:
            if grant.name == "api" and isinstance(grant.scope, ApiScope):
                return grant.scope
        return ApiScope.none()

    # -- JWT -------------------------------------------------------------------------------

    def to_jwt(self, *, api_key: str, ttl: timedelta = DEFAULT_TTL,
               audience: str = DEFAULT_AUDIENCE) -> str:
        """Sign with HS256. ``exp`` = now + ttl (always set), ``iat`` = now, ``aud``."""
        if not api_key:
            raise ValueError("api_key is required to sign a token")
        if ttl.total_seconds() <= 0:
            raise ValueError("ttl must be positive")
        now = int(time.time())
        claims = {
            "name": self.name,
            "sub": self.name,
            "grants": [g.to_json() for g in self.grants],
            "iat": now,
            "exp": now + int(ttl.total_seconds()),
            "aud": audience,
            "jti": self.token_id or secrets.token_hex(8),
        }
        return jwt.encode(claims, api_key, algorithm=ALGORITHM)

    @classmethod
    def from_jwt(cls, token: str, *, api_key: str, audience: str = DEFAULT_AUDIENCE,
                 leeway: float = 0.0) -> ParticipantToken:
        """Verify signature, expiry and audience; raise an ``InvalidToken`` subclass if not."""
        try:
            claims = jwt.decode(token, api_key, algorithms=[ALGORITHM], audience=audience,
                                leeway=leeway, options={"require": ["exp", "iat", "aud"]})
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("token expired") from None
        except jwt.InvalidAudienceError:
            raise WrongAudience(f"token is not for audience {audience!r}") from None
        except jwt.InvalidSignatureError:
            raise BadSignature("token signature does not match the server's API key") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        return cls._from_claims(claims)

    @classmethod
    def _from_claims(cls, claims: dict[str, Any]) -> ParticipantToken:
        name, grants = claims.get("name"), claims.get("grants", [])
        if not isinstance(name, str) or not isinstance(grants, list):
            raise InvalidToken("token claims need a name and a list of grants")
        return cls(name=name, grants=[ParticipantGrant.from_json(g) for g in grants],
                   expires_at=float(claims["exp"]), issued_at=float(claims["iat"]),
                   token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None)
