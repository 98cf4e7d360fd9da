"""The verified principal of the RPC being served, for servicers that check rooms late.

``AuthInterceptor`` sets it before a servicer method runs. RPCs keyed by a task id or a pool
name learn their room only after a lookup; their servicers call ``require(room, grant)``
then. List RPCs call ``visible_rooms(grant)`` to filter what they return.

Fail closed: with no principal set (a server built without ``AuthInterceptor``), ``require``
refuses and ``visible_rooms`` is empty.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from meshq.core.errors import PermissionDenied
from meshq.core.validation import shown
from meshq.security.principal import Grant, Principal

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "meshq_principal", default=None
)


def current() -> Principal | None:
    """The principal of the RPC being served, or None outside an authenticated RPC."""
    return _current.get()


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Run a block as ``principal`` (in-process calls, tests)."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def require(room: str, grant: Grant | str, target: str | None = None) -> Principal:
    """Return the principal if it may do ``grant`` in ``room``, else raise PermissionDenied."""
    principal = _current.get()
    grant = Grant(grant)
    if principal is None:
        raise PermissionDenied("no verified caller for this call")
    if not principal.can(room, grant, target):
        raise PermissionDenied(
            f"the token of {shown(principal.name)} does not allow {grant.value} in room "
            f"{shown(room)}"
        )
    return principal


def visible_rooms(grant: Grant | str = Grant.ROOM) -> frozenset[str] | None:
    """Rooms the caller may see with ``grant``; None means every room."""
    principal = _current.get()
    if principal is None:
        return frozenset()
    return principal.visible_rooms(Grant(grant))


def may_see(room: str, grant: Grant | str = Grant.ROOM) -> bool:
    """True when the caller may see ``room`` with ``grant`` (for filtering list results)."""
    rooms = visible_rooms(grant)
    return rooms is None or room in rooms
