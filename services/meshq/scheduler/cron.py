"""Cron time: pure functions from a schedule, a timezone and an instant to the next instants.

Everything here is a function of the instant it is given, so tests pass fixed instants and
never sleep; ``Preview``, validation and the firing loop call the same ``next_ms_after``.

meshq's own evaluator (no croniter; see docs/scheduler.md for why and for the rules):
the grammar is ``cron_parse`` (Vixie/Debian cron, optional seconds first), zones and their
offset changes are ``cron_zone``. Time is integer seconds. The timeline is walked one UTC
offset period at a time: inside a period, local wall time is UTC plus one offset, so the
first matching wall time in the period's wall range is the answer. Between periods:

* **Gap** (clocks jump forward at T): a *fixed-time* schedule (no ``*`` at the start of the
  seconds, minute or hour field, the Vixie rule) with any wall time in the skipped range
  fires once, at T (the first valid instant after the gap, seconds field or not). A
  *wildcard* schedule has nothing in the gap.
* **Repeat** (clocks go back): wildcard schedules fire in both passes; fixed-time ones in the
  first pass only.

Every call is bounded by a ``Budget`` (steps and a deadline): ``BudgetExhausted`` says the
work ran out before an answer, so no expression can stall a caller.
"""

from __future__ import annotations

import bisect
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown
from meshq.scheduler import cron_zone
from meshq.scheduler.cron_parse import FIELDS_5, FIELDS_6, CronFields, parse_fields

__all__ = ["FIELDS_5", "FIELDS_6", "Budget", "BudgetExhausted", "Schedule", "parse_schedule",
           "parse_timezone", "next_ms_after", "next_instants", "instants_between"]

MAX_PREVIEW = 1000  # most instants one call returns
MAX_YEARS_BETWEEN = 50  # a valid schedule fires within 28 years; searching stops after 50
MIN_INSTANT_MS = 0  # 1970-01-01T00:00:00Z: the earliest instant an API call may give
MAX_INSTANT_MS = 253_370_764_800_000  # 9999-01-01T00:00:00Z: the latest (datetime ends in 9999)
STEPS_PER_CALL = 200_000  # the work bound of one next-instant computation (~0.2 s of CPU)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH_NAIVE.toordinal()
_LAST_WALL = 253_402_300_799  # 9999-12-31T23:59:59 as local wall seconds
_SEARCH_SECONDS = MAX_YEARS_BETWEEN * 366 * 86_400
parse_timezone = cron_zone.parse_timezone


class BudgetExhausted(Exception):
    """The work bound of a computation ran out before it found its answer."""


class Budget:
    """How much work a computation may do: a number of steps and a monotonic deadline."""

    __slots__ = ("steps", "deadline", "_check")

    def __init__(self, steps: int = STEPS_PER_CALL, deadline: float | None = None) -> None:
        self.steps = steps
        self.deadline = deadline
        self._check = 1024

    def spend(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise BudgetExhausted("the step bound ran out")
        self._check -= 1
        if self._check <= 0:
            self._check = 1024
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise BudgetExhausted("the time bound ran out")


@dataclass(frozen=True)
class Schedule:
    """A validated cron expression."""

    expr: str
    """The expression, whitespace-normalised (macros expanded)."""
    seconds: bool
    """True when the expression has 6 fields (seconds first)."""
    fixed_time: bool
    """True when no seconds/minute/hour field starts with '*': fires once per wall time."""
    fields: CronFields
    """What each field allows."""


def parse_schedule(expr: str, field: str = "schedule") -> Schedule:
    """Validate ``expr`` strictly; raise InvalidArgument naming ``field`` and the bad part."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidArgument(f"{field} is required: a cron expression such as '30 17 * * *'")
    try:
        text, seconds, fixed, fields = parse_fields(expr)
    except InvalidArgument as err:
        raise InvalidArgument(f"{field} {shown(expr)}: {err.message}") from None
    return Schedule(expr=text, seconds=seconds, fixed_time=fixed, fields=fields)


def _next_ge(values: tuple[int, ...], x: int) -> int | None:
    i = bisect.bisect_left(values, x)
    return values[i] if i < len(values) else None


@functools.lru_cache(maxsize=4096)
def _sorted(values: frozenset[int]) -> tuple[int, ...]:
    return tuple(sorted(values))


def first_wall(f: CronFields, low: int, high: int, budget: Budget) -> int | None:
    """The first local wall time (seconds, as if the zone were UTC) in ``[low, high)`` that
    the fields match, or None. Jumps field by field (month, day, hour, minute, second)."""
    months, hours, minutes, seconds = (_sorted(f.months), _sorted(f.hours), _sorted(f.minutes),
                                       _sorted(f.seconds))
    high = min(high, _LAST_WALL + 1)
    w = low
    while w < high:
        budget.spend()
        days, second_of_day = divmod(w, 86_400)
        day = datetime.fromordinal(_EPOCH_ORDINAL + days)
        if day.month not in f.months:
            month = _next_ge(months, day.month + 1)
            year = day.year if month is not None else day.year + 1
            if year > 9999:
                return None
            w = (datetime(year, month or months[0], 1) - _EPOCH_NAIVE).days * 86_400
            continue
        if not f.day_matches(day.year, day.month, day.day, (days + 4) % 7):
            w = (days + 1) * 86_400
            continue
        base = days * 86_400
        hour, rest = divmod(second_of_day, 3600)
        minute, second = divmod(rest, 60)
        if hour not in f.hours:
            nh = _next_ge(hours, hour)
            w = base + nh * 3600 if nh is not None else base + 86_400
        elif minute not in f.minutes:
            nm = _next_ge(minutes, minute)
            w = base + hour * 3600 + (nm * 60 if nm is not None else 3600)
        elif second not in f.seconds:
            ns = _next_ge(seconds, second)
            w = base + hour * 3600 + minute * 60 + (ns if ns is not None else 60)
        else:
            return w
    return None


def next_second(schedule: Schedule, tz: ZoneInfo, at: int, budget: Budget) -> int | None:
    """The first instant at or after ``at`` (seconds since the epoch), by the rules above."""
    f, fixed = schedule.fields, schedule.fixed_time
    stop = at + _SEARCH_SECONDS
    t = at
    while t <= stop:
        budget.spend()
        o = cron_zone.offset(tz, t)
        last = cron_zone.last_transition(tz, t)
        if last is not None and fixed:
            if last.at == t and last.after > last.before and \
                    first_wall(f, t + last.before, t + last.after, budget) is not None:
                return t  # a gap at t with wall times of the schedule in it
        low = t + o
        if fixed and last is not None and last.before > last.after:
            low = max(low, last.at + last.before)  # the second pass of a repeat: not again
        nxt = cron_zone.next_transition(tz, t)
        year = cron_zone.utc_year(t) + 2
        end = nxt.at if nxt is not None else (
            cron_zone.year_start(year) if year <= 9999 else _LAST_WALL + 2 * 86_400)
        if end <= t:
            return None  # the end of time (year 9999)
        if low < end + o:
            wall = first_wall(f, low, end + o, budget)
            if wall is not None:
                return wall - o
        t = end
    return None


def _local(tz: ZoneInfo, at: int) -> datetime:
    """The instant as a local datetime (fold set for the second pass of a repeat), without
    building a UTC datetime, which would overflow after 9999-12-31 UTC."""
    o = cron_zone.offset(tz, at)
    naive = _EPOCH_NAIVE + timedelta(seconds=at + o)
    local = naive.replace(tzinfo=tz)
    if local.utcoffset() != timedelta(seconds=o):
        local = local.replace(fold=1)
    return local


def _next_after_ms(schedule: Schedule, tz: ZoneInfo, after_ms: int, budget: Budget) -> int | None:
    found = next_second(schedule, tz, after_ms // 1000 + 1, budget)
    return found * 1000 if found is not None else None


@functools.lru_cache(maxsize=65_536)
def next_ms_after(schedule: Schedule, tz: ZoneInfo, after_ms: int) -> int | None:
    """The next instant strictly after ``after_ms``, in ms; None if there is none.

    Cached: tasks sharing a schedule and zone that fired at the same instant (every
    ``0 * * * *`` task at the top of the hour) need the next instant computed once. Bounded
    by one ``Budget()``: BudgetExhausted if it runs out (never for a valid schedule).
    """
    return _next_after_ms(schedule, tz, after_ms, Budget())


def _aware_ms(after: datetime) -> int:
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    return to_ms(after)


def _iter_ms(schedule: Schedule, tz: ZoneInfo, after_ms: int,
             budget: Budget | None = None) -> Iterator[int]:
    ms: int | None = after_ms
    while ms is not None:
        ms = (_next_after_ms(schedule, tz, ms, budget) if budget is not None
              else next_ms_after(schedule, tz, ms))
        if ms is not None:
            yield ms


def iter_instants(schedule: Schedule, tz: ZoneInfo, after: datetime,
                  budget: Budget | None = None) -> Iterator[datetime]:
    """Instants strictly after ``after``, in ``tz``, strictly increasing; endless unless a
    ``budget`` runs out (BudgetExhausted)."""
    for ms in _iter_ms(schedule, tz, _aware_ms(after), budget):
        yield _local(tz, ms // 1000)


def preview_instants(schedule: Schedule, tz: ZoneInfo, after: datetime, count: int,
                     budget: Budget) -> tuple[list[datetime], str]:
    """Up to ``count`` instants strictly after ``after`` within ``budget``; and why the
    budget ran out first ("" when it did not; the list then holds what was found)."""
    out: list[datetime] = []
    if count <= 0:
        return out, ""
    try:
        for local in iter_instants(schedule, tz, after, budget):
            out.append(local)
            if len(out) >= count:
                break
    except BudgetExhausted as err:
        return out, str(err)
    return out, ""


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


def ms_between(schedule: Schedule, tz: ZoneInfo, after_ms: int, until_ms: int, limit: int,
               budget: Budget | None = None) -> list[int]:
    """Instants in ``(after_ms, until_ms]`` in ms, at most ``limit`` of them (the earliest)."""
    out: list[int] = []
    for ms in _iter_ms(schedule, tz, after_ms, budget):
        if ms > until_ms or len(out) >= limit:
            break
        out.append(ms)
    return out


def instants_between(
    schedule: Schedule, tz: ZoneInfo, after: datetime, until: datetime, limit: int
) -> list[datetime]:
    """Instants in ``(after, until]``, at most ``limit`` of them (the earliest); compared in
    UTC (aware datetimes of one zone compare by wall time, ignoring fold)."""
    found = ms_between(schedule, tz, _aware_ms(after), _aware_ms(until), limit)
    return [_local(tz, ms // 1000) for ms in found]


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
