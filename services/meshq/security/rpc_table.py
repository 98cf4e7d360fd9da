"""Every RPC meshq serves, the grant it needs, and where its room is named.

``AuthInterceptor`` refuses any RPC that is not in ``RPC_TABLE``, and a test fails when a
method of a service descriptor is missing here, so a new RPC cannot go out unguarded.

``DOCUMENTED_CODES`` lists, per RPC, every status code a caller may get back; docs/security.md
shows the same list and the fuzz test holds every live RPC to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from meshq.security.principal import Grant

EXEMPT_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
})
"""Served without a token: health checks and reflection describe nothing secret."""


class RoomFrom(Enum):
    """Where an RPC's room comes from."""

    FIELD = "field"
    """A request field names it; required."""
    OPTIONAL_FIELD = "optional field"
    """A request field may name it; when empty the servicer filters by ``visible_rooms``."""
    SERVICER = "room checked in the servicer"
    """Keyed by a task id or pool name: the servicer calls ``context.require`` after lookup."""
    NONE = "admin / no room"
    """No room involved."""


@dataclass(frozen=True)
class Rule:
    """What an RPC needs."""

    grant: Grant
    room_from: RoomFrom = RoomFrom.FIELD
    room: str = ""
    """Dotted request field naming the room ("room", "open.room", "spec.room")."""
    queue: str = ""
    """Dotted request field naming the queue the grant applies to."""
    paths: tuple[str, ...] = ()
    """Request fields naming storage paths the grant applies to (all of them are checked)."""
    allow_root: bool = False
    """An empty path means the room's root folder (ListFiles)."""


def _field(grant: Grant, room: str = "room", queue: str = "") -> Rule:
    return Rule(grant=grant, room=room, queue=queue)


def _queue(grant: Grant, prefix: str = "") -> Rule:
    return Rule(grant=grant, room=prefix + "room", queue=prefix + "queue")


def _storage(grant: Grant, *paths: str, allow_root: bool = False) -> Rule:
    return Rule(grant=grant, room="room", paths=paths or ("path",), allow_root=allow_root)


def _late(grant: Grant) -> Rule:
    return Rule(grant=grant, room_from=RoomFrom.SERVICER)


def _optional(grant: Grant) -> Rule:
    return Rule(grant=grant, room_from=RoomFrom.OPTIONAL_FIELD, room="room")


_ROOMS = "/meshq.v1.RoomService/"
_QUEUES = "/meshq.v1.QueueService/"
_SCHEDULER = "/meshq.v1.SchedulerService/"
_STORAGE = "/meshq.v1.StorageService/"
_WORKERS = "/meshq.v1.WorkerService/"

RPC_TABLE: dict[str, Rule] = {
    _ROOMS + "CreateRoom": _field(Grant.ADMIN, room="name"),
    _ROOMS + "GetRoom": _field(Grant.ROOM, room="name"),
    _ROOMS + "ListRooms": Rule(grant=Grant.ANY, room_from=RoomFrom.NONE),
    _ROOMS + "DeleteRoom": _field(Grant.ADMIN, room="name"),
    _QUEUES + "Send": _queue(Grant.QUEUE_SEND),
    _QUEUES + "Receive": _queue(Grant.QUEUE_RECEIVE),
    _QUEUES + "Subscribe": _queue(Grant.QUEUE_RECEIVE, prefix="open."),
    _QUEUES + "Ack": _queue(Grant.QUEUE_RECEIVE),
    _QUEUES + "Nack": _queue(Grant.QUEUE_RECEIVE),
    _QUEUES + "ExtendLease": _queue(Grant.QUEUE_RECEIVE),
    _QUEUES + "OpenQueue": _queue(Grant.QUEUE_MANAGE),
    _QUEUES + "CloseQueue": _queue(Grant.QUEUE_MANAGE),
    _QUEUES + "DrainQueue": _queue(Grant.QUEUE_MANAGE),
    _QUEUES + "DeleteQueue": _queue(Grant.QUEUE_MANAGE),
    _QUEUES + "ListQueues": _field(Grant.QUEUE_LIST),
    _QUEUES + "PeekQueue": _queue(Grant.QUEUE_RECEIVE),
    _QUEUES + "RedriveQueue": _queue(Grant.QUEUE_MANAGE),
    _QUEUES + "GetMessage": _queue(Grant.QUEUE_RECEIVE),
    _SCHEDULER + "AddTask": _field(Grant.SCHEDULER, room="spec.room"),
    _SCHEDULER + "GetTask": _late(Grant.SCHEDULER),
    _SCHEDULER + "ListTasks": _optional(Grant.SCHEDULER),
    _SCHEDULER + "UpdateTask": _late(Grant.SCHEDULER),
    _SCHEDULER + "DeleteTask": _late(Grant.SCHEDULER),
    _SCHEDULER + "TriggerTask": _late(Grant.SCHEDULER),
    _SCHEDULER + "ListRuns": _late(Grant.SCHEDULER),
    _SCHEDULER + "Preview": Rule(grant=Grant.ANY, room_from=RoomFrom.NONE),
    _STORAGE + "WriteFile": _storage(Grant.STORAGE_WRITE),
    _STORAGE + "ReadFile": _storage(Grant.STORAGE_READ),
    _STORAGE + "ListFiles": _storage(Grant.STORAGE_READ, allow_root=True),
    _STORAGE + "StatFile": _storage(Grant.STORAGE_READ),
    _STORAGE + "DeleteFile": _storage(Grant.STORAGE_WRITE),
    _STORAGE + "MoveFile": _storage(Grant.STORAGE_WRITE, "source", "destination"),
    _WORKERS + "StartPool": _field(Grant.WORKERS, room="spec.room"),
    _WORKERS + "ListPools": _optional(Grant.WORKERS),
    _WORKERS + "GetPool": _late(Grant.WORKERS),
    _WORKERS + "ScalePool": _late(Grant.WORKERS),
    _WORKERS + "StopPool": _late(Grant.WORKERS),
}

# -- documented status codes ------------------------------------------------------------------

COMMON_CODES = frozenset({
    "OK",
    "INVALID_ARGUMENT",  # a field is malformed, or the request bytes are not the message
    "UNAUTHENTICATED",  # no token, or it is expired, wrongly signed, for another audience
    "PERMISSION_DENIED",  # another room, or a grant the token lacks
    "DEADLINE_EXCEEDED",  # the caller's deadline passed
    "UNAVAILABLE",  # the server is shutting down
    "UNIMPLEMENTED",  # this server process does not host the service
    "CANCELLED",  # the caller cancelled
})
"""Codes any RPC may answer."""

_NF, _AE, _FP, _RE = ("NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION",
                      "RESOURCE_EXHAUSTED")

_EXTRA: dict[str, tuple[str, ...]] = {
    "CreateRoom": (_AE, _RE), "GetRoom": (_NF,), "ListRooms": (), "DeleteRoom": (_NF, _FP),
    "Send": (_NF, _FP, _RE), "Receive": (_NF, _FP, _RE), "Subscribe": (_NF, _FP, _RE),
    "Ack": (_NF, _RE), "Nack": (_NF, _RE), "ExtendLease": (_NF, _RE),
    "OpenQueue": (_FP, _RE), "CloseQueue": (_NF,), "DrainQueue": (_NF,), "DeleteQueue": (_NF,),
    "ListQueues": (_NF,), "PeekQueue": (_NF,), "RedriveQueue": (_NF, _FP, _RE),
    "GetMessage": (_NF,),
    "AddTask": (_NF, _FP, _RE), "GetTask": (_NF,), "ListTasks": (_NF,),
    "UpdateTask": (_NF, _FP), "DeleteTask": (_NF,), "TriggerTask": (_NF, _FP, _RE),
    "ListRuns": (_NF,), "Preview": (),
    # storage: FAILED_PRECONDITION for a symlink loop or a folder / file in the way,
    # RESOURCE_EXHAUSTED for a full volume or a limit (and for the streams per token of
    # ReadFile / WriteFile), UNAVAILABLE (common) for a read-only or failing volume; a path
    # through a file is NOT_FOUND when read, FAILED_PRECONDITION when written; an offset past
    # the end is INVALID_ARGUMENT.
    "WriteFile": (_NF, _AE, _FP, _RE), "ReadFile": (_NF, _FP, _RE),
    "ListFiles": (_NF, _FP, _RE), "StatFile": (_NF, _FP), "DeleteFile": (_NF, _FP),
    "MoveFile": (_NF, _AE, _FP, _RE),
    "StartPool": (_NF, _AE, _FP, _RE), "ListPools": (_NF,), "GetPool": (_NF,),
    "ScalePool": (_NF, _FP, _RE), "StopPool": (_NF, _FP),
}

DOCUMENTED_CODES: dict[str, frozenset[str]] = {
    method: COMMON_CODES | set(_EXTRA[method.rsplit("/", 1)[1]]) for method in RPC_TABLE
}
"""Per RPC full name: every status code it may answer. INTERNAL and UNKNOWN are never in it."""


def service_of(method: str) -> str:
    """"/pkg.Service/Method" -> "pkg.Service"."""
    return method.lstrip("/").split("/", 1)[0]
