"""``QueueBackend``: the one seam through which everything reaches the queues.

The gRPC servicers, the scheduler's in-process enqueuer and the pools' in-process backlog
reader call only what is declared here; the embedded engine (``QueueEngine``, memory + a
``QueueStore``) is one implementation, a PostgreSQL backend another. Remote callers use the
SDK, which speaks the same RPCs. ``tests/queue/test_contract.py`` runs against every
implementation, so a behaviour exists on every backend or on none.

Every call validates its input and raises ``meshq.core.errors`` (``InvalidArgument``,
``NotFound``, ``FailedPrecondition``, ``ResourceExhausted``, ``Unavailable``...), which the
server maps to gRPC statuses in one place. A call that changes what is stored returns only
once the change is durable.

The records it takes and returns are the plain data of ``meshq.queue.model``; they are
re-exported here so an implementation needs one import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, cast, runtime_checkable

from meshq.queue import validate as v
from meshq.queue.model import (
    Delivery,
    ExtendItem,
    MessageFields,
    MessageStatus,
    NackItem,
    NewMessage,
    QueueInfo,
    QueueLimits,
    QueueOptions,
    RoomInfo,
    SendResult,
    Sent,
    Settled,
    SettleOutcome,
)

CheckedMessage = v.Prepared
"""A message ``QueueBackend.check_messages`` validated (opaque to its callers)."""

__all__ = [
    "CheckedMessage",
    "Delivery",
    "ExtendItem",
    "MessageFields",
    "MessageStatus",
    "NackItem",
    "NewMessage",
    "QueueBackend",
    "QueueInfo",
    "QueueLimits",
    "QueueOptions",
    "QueueSubscription",
    "RoomInfo",
    "SendResult",
    "Sent",
    "SettleByParts",
    "Settled",
    "SettleOutcome",
    "settle_by_parts",
]


@runtime_checkable
class QueueSubscription(Protocol):
    """A streaming consumer: deliveries within a credit window of unsettled leases.

    Deliveries are settled through the backend's ``settle`` with their lease tokens; a
    settled lease frees its credit. ``close`` hands every unsettled delivery
    back at once (attempt unchanged).
    """

    @property
    def room(self) -> str: ...

    @property
    def queue(self) -> str: ...

    @property
    def closed(self) -> bool:
        """True once closed by the consumer, or ended by the backend (queue closed or
        deleted, backend stopping or broken)."""
        ...

    @property
    def max_in_flight(self) -> int: ...

    @property
    def lease_seconds(self) -> float: ...

    async def next_batch(self) -> list[Delivery]:
        """Wait for at least one delivery within the free credit; ``[]`` once closed."""
        ...

    def set_max_in_flight(self, n: int) -> None:
        """Change the credit window (0 pauses deliveries); InvalidArgument out of range."""
        ...

    async def close(self) -> None:
        """Hand unsettled deliveries back and stop. Safe to call twice."""
        ...


@runtime_checkable
class QueueBackend(Protocol):
    """Durable at-least-once queues with leases, addressed by (room, queue)."""

    limits: QueueLimits
    """Size and count limits the backend enforces (the stream merges settles under
    ``limits.max_batch``)."""

    on_broken: Callable[[BaseException], None] | None
    """Called once when the backend can no longer serve (e.g. a failed commit): the server
    then reports NOT_SERVING for the queue services."""

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open storage and become ready to serve."""
        ...

    async def close(self) -> None:
        """End every subscription, release storage. Safe to call twice."""
        ...

    @property
    def healthy(self) -> bool:
        """False once broken: every call then raises ``Unavailable`` until a restart."""
        ...

    # -- rooms ------------------------------------------------------------------------------

    async def create_room(self, name: str, *, if_not_exists: bool = False
                          ) -> tuple[RoomInfo, bool]:
        """Create a room; (info, created). AlreadyExists unless ``if_not_exists``."""
        ...

    async def get_room(self, name: str) -> RoomInfo: ...

    async def list_rooms(self) -> list[RoomInfo]:
        """Every room, by name."""
        ...

    async def delete_room(self, name: str, *, force: bool = False) -> None:
        """Delete a room; one with queues only with ``force`` (they go too)."""
        ...

    # -- messages ---------------------------------------------------------------------------

    async def send(self, room: str, queue: str, messages: Sequence[NewMessage], *,
                   create: bool = False) -> list[SendResult]:
        """Enqueue a batch durably, all or nothing; a remembered dedup_id enqueues nothing
        and returns the first message's id with ``duplicate``."""
        ...

    async def send_fields(self, room: str, queue: str, messages: Sequence[MessageFields], *,
                          create: bool = False) -> list[Sent]:
        """``send`` over ``MessageFields`` tuples (the servicer's path, no object per
        message); same checks, same results."""
        ...

    def check_messages(self, messages: Sequence[MessageFields]) -> list[CheckedMessage]:
        """Validate messages now, as ``send_fields`` would (``InvalidArgument``), for a later
        ``send_checked``: a sender in this process that builds its messages ahead of time
        (the scheduler, before each instant) takes their validation off its sends."""
        ...

    async def send_checked(self, room: str, queue: str, messages: Sequence[CheckedMessage], *,
                           create: bool = False) -> list[Sent]:
        """``send_fields`` of messages ``check_messages`` returned: the batch and the target
        are checked, each message is not checked again."""
        ...

    async def receive(self, room: str, queue: str, *, max_messages: int = 1,
                      wait_seconds: float = 0.0, lease_seconds: float = 30.0,
                      auto_ack: bool = False, create: bool = False) -> list[Delivery]:
        """Lease (or with ``auto_ack`` remove) up to ``max_messages``, oldest first;
        long-poll up to ``wait_seconds`` when none is ready."""
        ...

    async def subscribe(self, room: str, queue: str, *, max_in_flight: int,
                        lease_seconds: float = 30.0, create: bool = False
                        ) -> QueueSubscription:
        """Open a streaming consumer with a credit window of ``max_in_flight``."""
        ...

    async def settle(self, room: str, queue: str, *, acks: Sequence[str] = (),
                     nacks: Sequence[NackItem] = (), extends: Sequence[ExtendItem] = ()
                     ) -> Settled:
        """Settle leases by token lists, checked whole once (``validate.check_settle``): bad
        input refuses the call before anything changes. Extensions apply first, then acks,
        then nacks (a job extended then finished stays OK); one outcome per token, STALE
        changing nothing. The stream and the unary Ack / Nack / ExtendLease all come here.

        This default (for a backend that subclasses the Protocol, or uses ``SettleByParts``)
        is ``settle_by_parts``: the checks, then ``extend``, ``ack``, ``nack``.
        """
        return await settle_by_parts(self, room, queue, acks=acks, nacks=nacks,
                                     extends=extends)

    async def ack(self, room: str, queue: str, tokens: Sequence[str]) -> list[SettleOutcome]:
        """Settle deliveries as done; one outcome per token (STALE changes nothing).
        ``ack``, ``nack`` and ``extend`` are one-kind calls of ``settle``."""
        ...

    async def nack(self, room: str, queue: str, items: Sequence[NackItem]
                   ) -> list[SettleOutcome]:
        """Hand deliveries back after an optional delay; each counts as a failed attempt
        (dead-lettered to ``<queue>.dlq`` at the queue's ``max_deliveries``)."""
        ...

    async def extend(self, room: str, queue: str, items: Sequence[ExtendItem]
                     ) -> list[SettleOutcome]:
        """Set each lease to expire ``seconds`` from now."""
        ...

    # -- administration ---------------------------------------------------------------------

    async def open_queue(self, room: str, queue: str, options: QueueOptions | None = None
                         ) -> QueueInfo:
        """Create the queue (and room) if missing, reopen it if closed, apply options."""
        ...

    async def close_queue(self, room: str, queue: str) -> None:
        """Refuse Send, Receive and new deliveries until reopened; settling still works."""
        ...

    async def drain_queue(self, room: str, queue: str) -> int:
        """Remove every message (ready, delayed, leased); how many."""
        ...

    async def delete_queue(self, room: str, queue: str) -> None:
        """Delete the queue and its messages, ending its subscriptions; its DLQ stays."""
        ...

    async def redrive(self, room: str, queue: str, max_messages: int = 0) -> int:
        """Move messages of ``<queue>.dlq`` (not leased ones) back, oldest first, attempts
        reset; how many (0 = all)."""
        ...

    async def list_queues(self, room: str) -> list[QueueInfo]:
        """Every queue of a room (dead-letter queues included), by name."""
        ...

    async def queue_info(self, room: str, queue: str) -> QueueInfo: ...

    async def peek(self, room: str, queue: str, max_messages: int) -> list[Delivery]:
        """The next ready messages, oldest first, without leasing them (no lease fields)."""
        ...

    async def message_state(self, room: str, queue: str, message_id: str) -> MessageStatus:
        """Where a message is and its delivery attempts (GONE, 0 when unknown)."""
        ...


class _SettlesByParts(Protocol):
    limits: QueueLimits

    async def ack(self, room: str, queue: str, tokens: Sequence[str]
                  ) -> list[SettleOutcome]: ...

    async def nack(self, room: str, queue: str, items: Sequence[NackItem]
                   ) -> list[SettleOutcome]: ...

    async def extend(self, room: str, queue: str, items: Sequence[ExtendItem]
                     ) -> list[SettleOutcome]: ...


async def settle_by_parts(backend: _SettlesByParts, room: str, queue: str, *,
                          acks: Sequence[str] = (), nacks: Sequence[NackItem] = (),
                          extends: Sequence[ExtendItem] = ()) -> Settled:
    """``QueueBackend.settle`` for a backend that has only ``ack`` / ``nack`` / ``extend``:
    the whole call is checked first (so bad nacks refuse it before extensions or acks apply),
    then each non-empty list goes to its method (which may check its part again)."""
    nacks = v.check_settle(acks, nacks, extends, max_batch=backend.limits.max_batch)
    extended = await backend.extend(room, queue, extends) if extends else []
    acked = await backend.ack(room, queue, acks) if acks else []
    nacked = await backend.nack(room, queue, nacks) if nacks else []
    return Settled(acks=acked, nacks=nacked, extends=extended)


class SettleByParts:
    """Mixin giving a backend with ``ack`` / ``nack`` / ``extend`` its ``settle``
    (``settle_by_parts``); list it before the backend's other bases."""

    async def settle(self, room: str, queue: str, *, acks: Sequence[str] = (),
                     nacks: Sequence[NackItem] = (), extends: Sequence[ExtendItem] = ()
                     ) -> Settled:
        return await settle_by_parts(cast(_SettlesByParts, self), room, queue, acks=acks,
                                     nacks=nacks, extends=extends)
