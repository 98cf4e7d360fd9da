"""Plain data of the scheduler: tasks, their settings and the fire ledger. No gRPC here.

Instants are integer milliseconds since the Unix epoch (UTC), so that ledger keys and dedup
ids are exact; ``cron`` converts to and from tz-aware datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

DEFAULT_CATCHUP_WINDOW = 3600.0  # seconds: how old a missed instant may be and still be caught up
DEFAULT_MISFIRE_CAP = 100  # most missed instants enqueued by MisfirePolicy.ALL
MAX_MISFIRE_CAP = 10_000
MAX_CATCHUP_WINDOW = 366 * 86_400.0
MAX_JITTER = 86_400.0
MAX_PAYLOAD_BYTES = 1024 * 1024
TASK_ID_HEADER = "x-meshq-task-id"
SCHEDULED_AT_HEADER = "x-meshq-scheduled-at"


class MisfirePolicy(enum.Enum):
    """What to do with instants missed while the scheduler was down."""

    SKIP = "skip"
    """Record every missed instant as skipped; enqueue none."""
    LATEST = "latest"
    """Enqueue only the latest missed instant within the catch-up window."""
    ALL = "all"
    """Enqueue every missed instant within the catch-up window, the latest ``cap`` of them."""


class RunOutcome(enum.Enum):
    """What became of one due instant."""

    SENDING = "sending"
    """Internal: the ledger row is written and the send may or may not have committed.
    Repaired on start by re-sending with the same dedup id."""
    ENQUEUED = "enqueued"
    SKIPPED_INACTIVE = "skipped_inactive"
    SKIPPED_MISFIRE = "skipped_misfire"
    SKIPPED_PENDING = "skipped_pending"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What a user sets on a task (validated by ``validate.check_spec``)."""

    room: str
    queue: str
    schedule: str
    """5-field cron, or 6 fields with seconds first."""
    timezone: str = "UTC"
    payload_json: str = "null"
    active: bool = True
    once: bool = False
    """Fire once, then become inactive."""
    name: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    catchup_window_seconds: float = DEFAULT_CATCHUP_WINDOW
    misfire_policy: MisfirePolicy = MisfirePolicy.SKIP
    misfire_cap: int = DEFAULT_MISFIRE_CAP
    jitter_seconds: float = 0.0
    """Each fire's message is delayed by a stable pseudo-random 0..jitter seconds."""
    skip_if_pending: bool = False
    """Skip an instant while the previous fire's message is still in the queue."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    """A stored task."""

    id: str
    spec: TaskSpec
    created_at_ms: int
    cursor_ms: int
    """Every instant up to and including this one has a ledger row (or predates the task)."""


class TaskRun(NamedTuple):
    """One ledger row: unique on (task_id, scheduled_ms).

    A NamedTuple rather than a frozen dataclass: a burst builds two per fire (the SENDING row,
    then the final one), and a frozen dataclass's ``__init__`` costs ~10x a tuple's. Build it
    with keywords; the burst's hot paths build it by position (``tuple.__new__``).
    """

    task_id: str
    scheduled_ms: int
    fired_at_ms: int
    outcome: RunOutcome
    queue: str = ""
    """The queue the message was (or was to be) sent to."""
    message_id: str = ""
    error: str = ""
    manual: bool = False


@dataclass(frozen=True, kw_only=True)
class TaskView:
    """A task with what the API shows beside it."""

    task: Task
    next_fire_ms: int
    """0 when the task will not fire again."""
    last_run: TaskRun | None


@dataclass(frozen=True, kw_only=True)
class TaskUpdate:
    """The fields an UpdateTask sets; None means unchanged."""

    queue: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    payload_json: str | None = None
    active: bool | None = None
    name: str | None = None
    catchup_window_seconds: float | None = None
    misfire_policy: MisfirePolicy | None = None
    misfire_cap: int | None = None
    jitter_seconds: float | None = None
    skip_if_pending: bool | None = None
    once: bool | None = None

    def changes(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}
