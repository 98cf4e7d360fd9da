"""The checks the interceptor runs on a request, as pure functions over plain data.

``check_request`` raises ``InvalidArgument`` (a required room is missing or malformed, a
storage path is not a room path) or ``PermissionDenied`` (another room, a missing grant).
Messages echo only short, escaped values and never a token.
"""

from __future__ import annotations

from typing import Any

from meshq.core.errors import InvalidArgument, PermissionDenied
from meshq.core.validation import check_name, shown
from meshq.security.principal import Grant, Principal
from meshq.security.rpc_table import RoomFrom, Rule
from meshq.storage.paths import normalize


def field_value(message: Any, path: str) -> str:
    """The string at a dotted field path of a protobuf message ("open.room")."""
    value = message
    for part in path.split("."):
        value = getattr(value, part)
    return str(value)


def _denied(principal: Principal, grant: Grant, where: str) -> PermissionDenied:
    return PermissionDenied(f"the token of {shown(principal.name)} does not allow "
                            f"{grant.value} {where}")


def check_request(rule: Rule, principal: Principal, request: Any) -> None:
    """Raise unless ``principal`` may make ``request`` under ``rule``."""
    room = field_value(request, rule.room) if rule.room else ""
    if rule.room_from is RoomFrom.NONE or (rule.room_from is not RoomFrom.FIELD and not room):
        # No room to check here: the grant must at least be held somewhere; the servicer
        # checks the room after its lookup (or filters by visible rooms).
        if not principal.can(None, rule.grant):
            raise _denied(principal, rule.grant, "in any room")
        return
    check_name(rule.room, room)
    if not principal.covers(room):
        raise PermissionDenied(f"the token of {shown(principal.name)} is not for room {room!r}")
    targets = _targets(rule, request)
    if not targets:
        if not principal.can(room, rule.grant):
            raise _denied(principal, rule.grant, f"in room {room!r}")
        return
    for target in targets:
        if not principal.can(room, rule.grant, target):
            raise _denied(principal, rule.grant, f"on {shown(target)} in room {room!r}")


def _targets(rule: Rule, request: Any) -> list[str]:
    if rule.queue:
        return [field_value(request, rule.queue)]
    return [normalize(field_value(request, f), field=f, allow_root=rule.allow_root)
            for f in rule.paths]


def undecodable(message_name: str) -> InvalidArgument:
    return InvalidArgument(
        f"the request is not a valid {message_name} (corrupt bytes or invalid UTF-8 in a "
        "string field)"
    )
