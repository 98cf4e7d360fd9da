"""The verified caller of an RPC, and the one question every check asks: ``can``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from meshq.api.tokens import ALL_ROOMS, ApiScope, ParticipantToken


def token_key(raw: str) -> str:
    """A digest of a raw token, to count its streams without keeping the token."""
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class Grant(StrEnum):
    """What an RPC needs. ``target`` is a queue name or a normalised storage path."""

    ROOM = "room"
    """Any grant on the room: the token names it (GetRoom)."""
    ANY = "any"
    """Any valid token (ListRooms, Preview); the servicer filters by visible rooms."""
    QUEUE_SEND = "queues.send"
    QUEUE_RECEIVE = "queues.receive"
    QUEUE_MANAGE = "queues.manage"
    QUEUE_LIST = "queues.list"
    """Any queue grant in the room (ListQueues)."""
    STORAGE_READ = "storage.read"
    STORAGE_WRITE = "storage.write"
    SCHEDULER = "scheduler"
    WORKERS = "workers"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling (from verified claims) and what the token allows."""

    name: str
    rooms: frozenset[str]
    """Rooms the token is for; contains "*" for every room."""
    scope: ApiScope
    role: str | None
    expires_at: float
    token_key: str
    """A digest of the token, to count its open streams (never the token itself)."""

    @classmethod
    def from_token(cls, token: ParticipantToken, raw: str) -> Principal:
        return cls(
            name=token.name,
            rooms=frozenset(token.rooms),
            scope=token.api,
            role=token.role,
            expires_at=token.expires_at or 0.0,
            token_key=token_key(raw),
        )

    @property
    def all_rooms(self) -> bool:
        return ALL_ROOMS in self.rooms

    def covers(self, room: str) -> bool:
        """True when the token is for ``room``."""
        return self.all_rooms or room in self.rooms

    def can(self, room: str | None, grant: Grant, target: str | None = None) -> bool:
        """True when this principal may do ``grant`` (on ``target``) in ``room``.

        ``room=None`` asks whether the grant is held at all, in any room (used before a
        servicer knows the room of a task or pool).
        """
        if grant is Grant.ANY:
            return True
        if room is not None and not self.covers(room):
            return False
        if room is None and not self.rooms:
            return False
        return self._scope_allows(grant, target)

    def _scope_allows(self, grant: Grant, target: str | None) -> bool:
        s = self.scope
        if s.admin or grant is Grant.ROOM:
            return True
        checks = {
            Grant.QUEUE_SEND: (s.can_send, s.queue_send),
            Grant.QUEUE_RECEIVE: (s.can_receive, s.queue_receive),
            Grant.QUEUE_MANAGE: (s.can_manage_queue, s.queue_manage),
            Grant.STORAGE_READ: (s.can_read, s.storage_read),
            Grant.STORAGE_WRITE: (s.can_write, s.storage_write),
        }
        if grant in checks:
            check, held = checks[grant]
            return check(target) if target is not None else bool(held)
        return {
            Grant.QUEUE_LIST: s.any_queue,
            Grant.SCHEDULER: s.scheduler,
            Grant.WORKERS: s.workers,
        }.get(grant, False)

    def visible_rooms(self, grant: Grant = Grant.ROOM) -> frozenset[str] | None:
        """Rooms where ``grant`` is held; None means every room (an all-rooms token)."""
        if not self._scope_allows(grant, None):
            return frozenset()
        return None if self.all_rooms else self.rooms
