"""How the scheduler reaches the queues: in process (``EngineEnqueuer``) or over gRPC.

Both raise domain errors (``meshq.core.errors``): ``Unavailable`` means "try again later"
(the fire stays SENDING and is retried with the same dedup id); any other error is the fire's
recorded failure.

A missing queue in an existing room is created on first send (as a MeshAgent user expects
from ``scheduled-task add`` before any consumer has opened the queue); a deleted room is not
re-created: that fire fails.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import grpc

from meshq.core import errors
from meshq.core.errors import MeshqError, NotFound
from meshq.queue.model import MessageFields

if TYPE_CHECKING:
    from meshq.api.connection import Connection
    from meshq.api.queues import QueuesClient
    from meshq.queue.backend import CheckedMessage, QueueBackend

logger = logging.getLogger(__name__)


# How long the queue remembers a fire's dedup id. A crash between the ledger's SENDING row
# and its settle is repaired by re-sending with the same id; that repair is exactly-once as
# long as it comes within this window (an outage of the scheduler longer than a day could
# enqueue such an in-between fire twice). Long enough for real outages, short enough that a
# 1-second schedule keeps ~86,400 ids per day, not per week.
FIRE_DEDUP_WINDOW = 24 * 3600.0
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024  # the queue engine's default QueueLimits.max_message_bytes


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """One message the scheduler sends."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)
    dedup_id: str = ""
    delay_seconds: float = 0.0
    dedup_window_seconds: float = FIRE_DEDUP_WINDOW
    checked: CheckedMessage | None = field(default=None, compare=False, repr=False)
    """The queue backend's validated form (``EngineEnqueuer.prepare``), when built ahead."""


class RoomGone(NotFound):
    """The target room does not exist (it was deleted): the fire fails and the task is
    deactivated, so it neither fails every second nor fires into a re-created room."""


class Enqueuer(Protocol):
    """The queue operations the scheduler needs."""

    async def room_exists(self, room: str) -> bool:
        """True when the room exists."""

    def prepare(self, message: Outgoing) -> Outgoing:
        """The message made ready for its send ahead of its instant (validated, where the
        enqueuer can); the message itself when there is nothing to do, or when that fails
        (its send then reports why)."""

    async def send_many(self, room: str, queue: str, messages: Sequence[Outgoing]) -> list[str]:
        """Send durably; the message ids in order (the first id for a dedup repeat)."""

    async def is_pending(self, room: str, queue: str, message_id: str) -> bool:
        """True while the message is ready, delayed or in flight in that queue."""

    def max_message_bytes(self) -> int:
        """The largest message (body and headers) the queues take."""


class EngineEnqueuer:
    """Calls the queue backend of this process directly (through ``QueueBackend``)."""

    def __init__(self, engine: QueueBackend) -> None:
        self.engine = engine

    def max_message_bytes(self) -> int:
        return self.engine.limits.max_message_bytes

    async def room_exists(self, room: str) -> bool:
        try:
            await self.engine.get_room(room)
        except NotFound:
            return False
        return True

    def prepare(self, message: Outgoing) -> Outgoing:
        """The message validated by the backend now (``check_messages``), so that its send
        does not validate it again (a burst's sends validated 10,000 messages at the
        instant)."""
        try:
            [checked] = self.engine.check_messages([_fields(message)])
        except MeshqError:
            return message
        return dataclasses.replace(message, checked=checked)

    async def send_many(self, room: str, queue: str, messages: Sequence[Outgoing]) -> list[str]:
        # Ask first rather than retry on NotFound: a retry would validate the batch twice.
        # The embedded backend answers these reads without suspending, so a room deleted
        # meanwhile is never re-created.
        create = not await self._queue_exists(room, queue)
        if create and not await self.room_exists(room):
            raise RoomGone(f"room {room!r} does not exist")
        checked = [m.checked for m in messages]
        if None in checked:  # some built at the instant: the whole batch is validated now
            results = await self.engine.send_fields(room, queue, [_fields(m) for m in messages],
                                                    create=create)
        else:
            results = await self.engine.send_checked(
                room, queue, cast("list[CheckedMessage]", checked), create=create)
        return [r[0] for r in results]

    async def _queue_exists(self, room: str, queue: str) -> bool:
        try:
            await self.engine.queue_info(room, queue)
        except NotFound:
            return False
        return True

    async def is_pending(self, room: str, queue: str, message_id: str) -> bool:
        from meshq.queue.model import MessageState

        try:
            state, _attempt = await self.engine.message_state(room, queue, message_id)
        except NotFound:
            return False
        return state is not MessageState.GONE


def _fields(message: Outgoing) -> MessageFields:
    """The backend's ``MessageFields`` of a message, by position (without the NamedTuple's
    Python ``__new__``)."""
    return tuple.__new__(MessageFields, (message.body, message.headers, message.delay_seconds,
                                         message.dedup_id, message.dedup_window_seconds))


def _domain_classes() -> list[tuple[type[Exception], type[errors.MeshqError]]]:
    from meshq.api import errors as sdk

    return [(sdk.Unreachable, errors.Unavailable), (sdk.Cancelled, errors.Unavailable),
            (sdk.Internal, errors.Unavailable), (sdk.InvalidArgument, errors.InvalidArgument),
            (sdk.NotFound, errors.NotFound), (sdk.AlreadyExists, errors.AlreadyExists),
            (sdk.FailedPrecondition, errors.FailedPrecondition),
            (sdk.ResourceExhausted, errors.ResourceExhausted),
            (sdk.Unauthenticated, errors.Unauthenticated),
            (sdk.PermissionDenied, errors.PermissionDenied)]


def domain_error(err: grpc.aio.AioRpcError) -> errors.MeshqError:
    """The scheduler's domain error for an SDK error (``meshq.api.errors``, typed from the
    status by the SDK's one table): unreachable, cancelled or internal answers mean "try again
    later" (``Unavailable``); the rest keep their meaning."""
    from meshq.api import errors as sdk

    detail = err.details() or err.code().name
    typed = type(err) if isinstance(err, sdk.MeshqRpcError) else sdk.STATUS_ERRORS.get(
        err.code(), sdk.MeshqRpcError)
    for sdk_class, domain_class in _domain_classes():
        if issubclass(typed, sdk_class):
            if domain_class is errors.Unavailable:
                return errors.Unavailable(f"queue server: {detail}")
            return domain_class(detail)
    return errors.MeshqError(f"queue server: {err.code().name}: {detail}")


class GrpcEnqueuer:
    """Reaches a queue server through the SDK (``meshq serve scheduler --queue-server ADDR``)."""

    def __init__(self, conn: Connection, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        from meshq.api.rooms import RoomsClient

        self.conn = conn
        self._max_message_bytes = max_message_bytes
        self._rooms = RoomsClient(conn)

    def max_message_bytes(self) -> int:
        """The queue server's limit is not in its API: its default unless configured."""
        return self._max_message_bytes

    def prepare(self, message: Outgoing) -> Outgoing:
        """Nothing to do ahead: the server validates what it receives."""
        return message

    def _queues(self, room: str) -> QueuesClient:
        from meshq.api.queues import QueuesClient

        return QueuesClient(self.conn, room)

    async def room_exists(self, room: str) -> bool:
        try:
            await self._rooms.get(room)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise domain_error(err) from None
        return True

    async def send_many(self, room: str, queue: str, messages: Sequence[Outgoing]) -> list[str]:
        from meshq.v1 import queues_pb2

        batch = [queues_pb2.OutgoingMessage(json=m.body, headers=m.headers, dedup_id=m.dedup_id,
                                            delay_seconds=m.delay_seconds,
                                            dedup_window_seconds=m.dedup_window_seconds)
                 for m in messages]
        try:
            return await self._send(room, queue, batch, create=False)
        except NotFound:
            if not await self.room_exists(room):
                raise RoomGone(f"room {room!r} does not exist") from None
            return await self._send(room, queue, batch, create=True)

    async def _send(self, room: str, queue: str, batch: Sequence[Any], *, create: bool) -> list[str]:
        try:
            return await self._queues(room).send_batch(queue, batch, create=create)
        except grpc.aio.AioRpcError as err:
            raise domain_error(err) from None

    async def is_pending(self, room: str, queue: str, message_id: str) -> bool:
        try:
            status = await self._queues(room).message_state(queue, message_id)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise domain_error(err) from None
        return status.state in ("ready", "delayed", "in_flight")
