"""Cron time: pure functions from a schedule, a timezone and an instant to the next instants.

Everything here is a function of the instant it is given, so tests pass fixed instants and
never sleep; ``Preview`` and the firing loop call the same ``next_instants``.

Rules on top of croniter 7 (see docs/scheduler.md):

* A schedule has 5 fields, or 6 with **seconds first** (Quartz, Spring, node-cron).
  Validation is strict: an expression that can never fire (``0 0 31 2 *``) is refused, and the
  error names the field that is wrong.
* Datetimes are always tz-aware (zoneinfo); a naive datetime is refused.
* A *fixed-time* schedule (no field among seconds / minute / hour starting with ``*``, the
  Vixie-cron rule) fires once in the fall-back repeat: croniter yields both occurrences of
  the repeated wall time, the second (``fold=1``) is dropped. In the spring-forward gap it
  fires once, at the first valid instant after the gap (croniter already does this).
* A *wildcard* schedule (``*/15 * * * *``, ``0 * * * *``) keeps elapsed-time spacing: it
  fires in both passes of the repeated hour and simply has no instants in the gap.
* Returned instants are strictly increasing, in UTC order, and strictly after ``after``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown

logger = logging.getLogger(__name__)

FIELDS_5 = ("minute", "hour", "day of month", "month", "day of week")
FIELDS_6 = ("second",) + FIELDS_5
_MAX_EXPR_CHARS = 256
MAX_PREVIEW = 1000  # most instants one call returns
MAX_YEARS_BETWEEN = 50  # leap-day schedules fire every 4 years; give up only after 50
MIN_INSTANT_MS = 0  # 1970-01-01T00:00:00Z: the earliest instant an API call may give
MAX_INSTANT_MS = 253_370_764_800_000  # 9999-01-01T00:00:00Z: the latest (datetime ends in 9999)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Schedule:
    """A validated cron expression."""

    expr: str
    """The expression, whitespace-normalised."""
    seconds: bool
    """True when the expression has 6 fields (seconds first)."""
    fixed_time: bool
    """True when no seconds/minute/hour field starts with '*': fires once per wall time."""


def _field_error(fields: list[str], names: tuple[str, ...], seconds: bool) -> str | None:
    """The name and value of the first field croniter rejects on its own, if any."""
    for index, name in enumerate(names):
        probe = ["*"] * len(fields)
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe), second_at_beginning=seconds):
            return f"{name} field {shown(fields[index])}"
    return None


def parse_schedule(expr: str, field: str = "schedule") -> Schedule:
    """Validate ``expr`` strictly; raise InvalidArgument naming ``field`` and the bad part."""
    return _parse_cached(expr, field)


@functools.lru_cache(maxsize=4096)
def _parse_cached(expr: str, field: str) -> Schedule:
    """Pure in its arguments, and strict validation costs ~1 ms: cached (errors are not)."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidArgument(f"{field} is required: a cron expression such as '30 17 * * *'")
    if len(expr) > _MAX_EXPR_CHARS or "\x00" in expr:
        raise InvalidArgument(f"{field} is too long or contains NUL")
    fields = ALIASES.get(expr.strip().lower(), expr).split()
    if len(fields) not in (5, 6):
        raise InvalidArgument(
            f"{field} {shown(expr)} has {len(fields)} fields: use 5 (minute hour day-of-month "
            "month day-of-week) or 6 with seconds first"
        )
    seconds = len(fields) == 6
    names = FIELDS_6 if seconds else FIELDS_5
    text = " ".join(fields)
    bad = _field_error(fields, names, seconds)
    if bad is not None:
        raise InvalidArgument(f"{field} {shown(expr)}: the {bad} is invalid")
    if not croniter.is_valid(text, second_at_beginning=seconds):
        raise InvalidArgument(f"{field} {shown(expr)} is not a valid cron expression")
    if not croniter.is_valid(text, second_at_beginning=seconds, strict=True):
        raise InvalidArgument(
            f"{field} {shown(expr)} can never fire: the day of month never occurs in the month"
        )
    time_fields = fields[: 3 if seconds else 2]
    fixed = not any(part.startswith("*") for part in time_fields)
    return Schedule(expr=text, seconds=seconds, fixed_time=fixed)


def parse_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """An IANA zone (empty: UTC); raise InvalidArgument naming ``field`` otherwise."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64 or "\x00" in name or name.startswith(("/", ".")) or ".." in name:
        raise InvalidArgument(f"{field} {shown(name)} is not an IANA timezone such as 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(
            f"{field} {shown(name)} is not an IANA timezone such as 'Europe/Berlin'"
        ) from None


def _is_repeat(local: datetime) -> bool:
    """True when ``local`` is the second occurrence of a wall time repeated at fall-back."""
    if local.fold != 1:
        return False
    return local.replace(fold=0).utcoffset() != local.utcoffset()


@functools.lru_cache(maxsize=1024)
def _stepper(expr: str, seconds: bool, tz: ZoneInfo) -> croniter:
    """One croniter per (expression, zone), reused: building one parses the expression, which
    costs several times a step. ``set_current`` resets all of its state before each step."""
    start = datetime(2000, 1, 1, tzinfo=tz)
    return croniter(expr, start, ret_type=datetime, second_at_beginning=seconds,
                    max_years_between_matches=MAX_YEARS_BETWEEN)


_STEP_LOCK = threading.Lock()  # a shared croniter holds its position while it steps


def _next_local(schedule: Schedule, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first instant strictly after ``after`` (local time in ``tz``), or None.

    Every caller steps through this function, one instant at a time from a given UTC instant,
    which is also how the loop resumes from a task's stored cursor.
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    after_utc = after.astimezone(UTC)  # compare in UTC: same-zone comparison ignores fold
    with _STEP_LOCK:
        it = _stepper(schedule.expr, schedule.seconds, tz)
        it.set_current(after.astimezone(tz), force=True)
        while True:
            try:
                local: datetime = it.get_next()
            except (CroniterBadDateError, OverflowError, ValueError):
                return None  # no instant within MAX_YEARS_BETWEEN, or past year 9999: the end
            if schedule.fixed_time and _is_repeat(local):
                continue
            if local.astimezone(UTC) > after_utc:
                return local


def iter_instants(schedule: Schedule, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Instants strictly after ``after``, in ``tz``, strictly increasing; endless."""
    local = _next_local(schedule, tz, after)
    while local is not None:
        yield local
        local = _next_local(schedule, tz, local)


@functools.lru_cache(maxsize=65_536)
def next_ms_after(schedule: Schedule, tz: ZoneInfo, after_ms: int) -> int | None:
    """The next instant strictly after ``after_ms``, in ms; None if there is none.

    Cached: tasks sharing a schedule and zone that fired at the same instant (every
    ``0 * * * *`` task at the top of the hour) need the next instant computed once.
    """
    local = _next_local(schedule, tz, from_ms(after_ms))
    return to_ms(local) if local is not None else None


def next_instants(schedule: Schedule, tz: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` instants strictly after ``after`` (local time in ``tz``)."""
    out: list[datetime] = []
    if count <= 0:
        return out
    for local in iter_instants(schedule, tz, after):
        out.append(local)
        if len(out) >= count:
            break
    return out


def instants_between(
    schedule: Schedule, tz: ZoneInfo, after: datetime, until: datetime, limit: int
) -> list[datetime]:
    """Instants in ``(after, until]``, at most ``limit`` of them (the earliest)."""
    out: list[datetime] = []
    for local in iter_instants(schedule, tz, after):
        if local > until or len(out) >= limit:
            break
        out.append(local)
    return out


def check_instant_ms(field: str, ms: int) -> int:
    """``ms`` if it is an instant the scheduler computes with; InvalidArgument naming
    ``field`` and the allowed range otherwise (datetime overflows past year 9999)."""
    if not MIN_INSTANT_MS <= ms <= MAX_INSTANT_MS:
        raise InvalidArgument(
            f"{field} must be between {MIN_INSTANT_MS} ({iso_ms(MIN_INSTANT_MS)}) and "
            f"{MAX_INSTANT_MS} ({iso_ms(MAX_INSTANT_MS)}) ms since the Unix epoch, got {ms}")
    return ms


def check_instant(field: str, when: datetime) -> datetime:
    """``when`` if it lies in the allowed range (see ``check_instant_ms``)."""
    if when.tzinfo is None:
        raise InvalidArgument(f"{field} must be timezone-aware")
    check_instant_ms(field, to_ms(when))
    return when


def from_ms(ms: int) -> datetime:
    """A UTC datetime from milliseconds since the Unix epoch (``check_instant_ms`` range)."""
    return _EPOCH + timedelta(milliseconds=ms)


def to_ms(when: datetime) -> int:
    """Milliseconds since the Unix epoch of a tz-aware datetime (exact, no float rounding)."""
    delta = when - _EPOCH  # aware subtraction: no astimezone, so no overflow near year 1 / 9999
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@functools.lru_cache(maxsize=4096)
def iso_ms(ms: int) -> str:
    """``2024-11-03T05:30:00.000Z``: the instant's text in dedup ids and headers (cached:
    every task due at one instant uses the same text)."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_instant(text: str, field: str = "from") -> datetime:
    """An ISO 8601 instant; a naive one is taken as UTC."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{field} {shown(text)} is not an ISO 8601 instant") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
