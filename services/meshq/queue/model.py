"""Plain data the queue engine takes and returns. No gRPC here: servicers convert.

Times are float seconds since the Unix epoch (``time.time()``) unless a name says otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

DEFAULT_MAX_DELIVERIES = 5  # deliveries before a message moves to "<queue>.dlq"
DEFAULT_DEDUP_WINDOW = 300.0  # seconds a dedup_id is remembered
DEFAULT_LEASE_SECONDS = 30.0
MAX_LEASE_SECONDS = 12 * 3600.0
MAX_DELAY_SECONDS = 14 * 24 * 3600.0
DLQ_SUFFIX = ".dlq"
LAST_ERROR_HEADER = "x-meshq-last-error"


def dlq_name(queue: str) -> str:
    """The dead-letter queue of ``queue``."""
    return queue + DLQ_SUFFIX


def is_dlq(queue: str) -> bool:
    return queue.endswith(DLQ_SUFFIX)


@dataclass(frozen=True, kw_only=True)
class QueueLimits:
    """Limits enforced by the engine; exceeding one is RESOURCE_EXHAUSTED or INVALID_ARGUMENT."""

    max_message_bytes: int = 1024 * 1024
    """Largest message body plus headers, in bytes (INVALID_ARGUMENT above it)."""
    max_batch: int = 1000
    """Most messages in one Send, or acks/nacks/extensions in one call (INVALID_ARGUMENT)."""
    max_queues_per_room: int = 1000
    """Most queues a room may hold, dead-letter queues included (RESOURCE_EXHAUSTED)."""
    max_depth: int = 10_000_000
    """Most messages a queue may hold in any state (RESOURCE_EXHAUSTED, nothing written)."""


@dataclass(frozen=True, kw_only=True)
class QueueOptions:
    """A queue's settings."""

    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    """Deliveries before a message is dead-lettered."""
    dedup_window_seconds: float = DEFAULT_DEDUP_WINDOW
    """How long a dedup_id is remembered."""
    rate_limit: float = 0.0
    """Deliveries per second to all consumers together, a token bucket (0: no limit)."""
    rate_burst: int = 0
    """Deliveries the bucket saves up while idle (0: one second's worth, at least 1)."""
    key_concurrency: int = 0
    """Most leased messages per key at once (0: no limit); messages without a key are not
    limited."""


@dataclass(frozen=True, kw_only=True)
class NewMessage:
    """One message to send."""

    body: str
    """A JSON value as text (validated by the engine)."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    dedup_id: str = ""
    dedup_window_seconds: float = 0.0
    """How long this message's dedup_id is remembered (0: the queue's window); at most 30
    days. Set, it applies even on a queue whose window is 0 (dedup off)."""
    priority: int = 0
    """0-9, higher delivered first (kept as the ``x-meshq-priority`` header)."""
    key: str = ""
    """Groups messages for ``key_concurrency`` and fair turns (the ``x-meshq-key`` header)."""


@dataclass(frozen=True, kw_only=True)
class SendResult:
    message_id: str
    duplicate: bool = False


class MessageFields(NamedTuple):
    """One message to send as plain fields: what the servicer builds per ``OutgoingMessage``
    (validating fields costs less than building a ``NewMessage`` first)."""

    body: str
    headers: Mapping[str, str]
    """Any mapping (a proto map is fine): copied only when not empty."""
    delay_seconds: float = 0.0
    dedup_id: str = ""
    dedup_window_seconds: float = 0.0


class Sent(NamedTuple):
    """The result of one message of ``send_fields``."""

    message_id: str
    duplicate: bool


class Delivery(NamedTuple):
    """A message handed to a consumer (or peeked: then lease fields are empty).

    A NamedTuple: the hot path builds one per delivery with ``tuple.__new__``
    (``new_delivery``), and the servicer copies its fields straight into the proto."""

    message_id: str
    body: str
    headers: dict[str, str]
    enqueued_at: float
    attempt: int
    queue: str
    lease_token: str = ""
    lease_expires_at: float = 0.0


class SettleOutcome(enum.Enum):
    OK = "ok"
    STALE = "stale"
    """Unknown token, or its lease expired: nothing was changed."""


@dataclass(frozen=True, kw_only=True)
class NackItem:
    lease_token: str
    delay_seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class ExtendItem:
    lease_token: str
    seconds: float


class MessageState(enum.Enum):
    READY = "ready"
    DELAYED = "delayed"
    IN_FLIGHT = "in_flight"
    GONE = "gone"


class MessageStatus(NamedTuple):
    """Where a message is, and its delivery attempts (the current one included while in
    flight)."""

    state: MessageState
    attempt: int


@dataclass(frozen=True, kw_only=True)
class RoomInfo:
    name: str
    created_at: float
    queue_count: int


@dataclass(frozen=True, kw_only=True)
class QueueInfo:
    name: str
    depth: int
    in_flight: int
    delayed: int
    dead_lettered: int
    oldest_age_seconds: float
    closed: bool
    options: QueueOptions


# -- fast constructors for the hot paths ------------------------------------------------------
# A frozen dataclass's __init__ sets each field through object.__setattr__ (~1.4 us), a
# NamedTuple's __new__ is Python code too; these build the same objects (same type, equality,
# repr) in a fraction of it.

_new = object.__new__
_set = object.__setattr__
_new_tuple = tuple.__new__


def new_delivery(message_id: str, body: str, headers: dict[str, str], enqueued_at: float,
                 attempt: int, queue: str, lease_token: str = "",
                 lease_expires_at: float = 0.0) -> Delivery:
    """``Delivery(...)`` by position, without the NamedTuple's Python ``__new__``."""
    return _new_tuple(Delivery, (message_id, body, headers, enqueued_at, attempt, queue,
                                 lease_token, lease_expires_at))


def new_send_result(message_id: str, duplicate: bool = False) -> SendResult:
    """``SendResult(...)`` by position, without the frozen-dataclass __init__."""
    r = _new(SendResult)
    _set(r, "__dict__", {"message_id": message_id, "duplicate": duplicate})
    return r
