"""A brute-force cron reference for the tests: independent of meshq's scheduler code.

It parses an expression itself, steps the UTC clock minute by minute (second by second for
6 fields) through a window, converts each step to local time with zoneinfo, and applies the
rules of docs/scheduler.md literally:

* a step whose local wall time matches fires, except that a fixed-time schedule (no ``*``
  at the start of its seconds / minute / hour field) does not fire in the second pass of a
  repeated wall time;
* where the offset jumps forward between two steps, a fixed-time schedule with any matching
  wall time in the skipped range (enumerated unit by unit) fires once, at the jump;
  a wildcard schedule has nothing there.

No croniter, no meshq import: slow and obvious on purpose.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MONTHS = {n.lower(): i for i, n in enumerate(calendar.month_abbr) if n}
DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _val(text: str, names: dict[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else int(text)


def _field(text: str, lo: int, hi: int, names: dict[str, int]) -> tuple[set[int], bool, set[tuple[int, int]]]:
    values: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last = False
    for item in text.split(","):
        if item.upper() == "L":
            last = True
            continue
        if "#" in item:
            day, n = item.split("#")
            nth.add((_val(day, names) % 7, int(n)))
            continue
        base, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if base in ("*", "?"):
            a, b = lo, hi
        elif "-" in base:
            first, second = base.split("-")
            a, b = _val(first, names), _val(second, names)
        else:
            a = _val(base, names)
            b = hi if slash else a
        values.update(range(a, b + 1, step))
    return values, last, nth


@dataclass
class Reference:
    """One expression, parsed by the reference's own rules."""

    seconds: set[int]
    minutes: set[int]
    hours: set[int]
    doms: set[int]
    months: set[int]
    dows: set[int]
    last: bool
    nth: set[tuple[int, int]]
    day_and: bool
    fixed: bool
    unit: int

    @classmethod
    def parse(cls, expr: str) -> Reference:
        parts = expr.split()
        six = len(parts) == 6
        if not six:
            parts = ["0"] + parts
        sec, minute, hour, dom, month, dow = parts
        doms, last, _ = _field(dom, 1, 31, {})
        dows, _, nth = _field(dow, 0, 7, DAYS)
        if 7 in dows:
            dows = (dows - {7}) | {0}
        time_texts = [sec, minute, hour] if six else [minute, hour]
        return cls(
            seconds=_field(sec, 0, 59, {})[0], minutes=_field(minute, 0, 59, {})[0],
            hours=_field(hour, 0, 23, {})[0], doms=doms, months=_field(month, 1, 12, MONTHS)[0],
            dows=dows, last=last, nth=nth,
            day_and=dom[0] in "*?" or dow[0] in "*?",
            fixed=not any(t.startswith("*") for t in time_texts), unit=1 if six else 60,
        )

    def day(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        last_day = calendar.monthrange(when.year, when.month)[1]
        dom = when.day in self.doms or (self.last and when.day == last_day)
        weekday = (when.weekday() + 1) % 7
        dow = weekday in self.dows or (weekday, (when.day - 1) // 7 + 1) in self.nth
        return (dom and dow) if self.day_and else (dom or dow)

    def wall(self, when: datetime) -> bool:
        if not (when.minute in self.minutes and when.hour in self.hours
                and when.second in self.seconds):
            return False
        key = (when.year, when.month, when.day)
        known = self._days.get(key)
        if known is None:
            known = self._days[key] = self.day(when)
        return known

    def __post_init__(self) -> None:
        self._days: dict[tuple[int, int, int], bool] = {}


@dataclass
class Step:
    """One UTC step of a window, converted once and shared by every expression."""

    at: int
    wall: datetime
    second_pass: bool
    skipped: list[datetime]
    """Wall times (by the unit) the clock jumped over just before this step."""


def steps(zone: str, start: int, end: int, unit: int) -> list[Step]:
    """The steps of ``(start, end]`` (UTC seconds) in ``zone``, every ``unit`` seconds."""
    tz = ZoneInfo(zone)
    out: list[Step] = []
    prev = (EPOCH + timedelta(seconds=start)).astimezone(tz)
    for at in range(start + unit, end + 1, unit):
        local = (EPOCH + timedelta(seconds=at)).astimezone(tz)
        jump = local.utcoffset() - prev.utcoffset()  # type: ignore[operator]
        skipped: list[datetime] = []
        if jump > timedelta(0):
            wall = local.replace(tzinfo=None) - jump
            while wall < local.replace(tzinfo=None):
                skipped.append(wall)
                wall += timedelta(seconds=unit)
        first = local.replace(fold=0)
        second_pass = local.fold == 1 and first.utcoffset() != local.utcoffset()
        out.append(Step(at, local.replace(tzinfo=None), second_pass, skipped))
        prev = local
    return out


def instants(ref: Reference, window: list[Step]) -> list[int]:
    """The instants (UTC seconds) the documented rules give over a window's steps."""
    out: list[int] = []
    for step in window:
        if ref.wall(step.wall) and not (ref.fixed and step.second_pass):
            out.append(step.at)
        elif ref.fixed and step.skipped and any(ref.wall(w) for w in step.skipped):
            out.append(step.at)
    return out


def transitions(zone: str, first_year: int, last_year: int) -> list[int]:
    """UTC seconds at which ``zone``'s offset changes, scanning hour by hour then minute by
    minute (no transition table: what zoneinfo answers step by step)."""
    tz = ZoneInfo(zone)
    start = int((datetime(first_year, 1, 1, tzinfo=UTC) - EPOCH).total_seconds())
    end = int((datetime(last_year + 1, 1, 1, tzinfo=UTC) - EPOCH).total_seconds())

    def offset(at: int) -> timedelta:
        return (EPOCH + timedelta(seconds=at)).astimezone(tz).utcoffset()  # type: ignore[return-value]

    found: list[int] = []
    for hour in range(start, end, 3600):
        if offset(hour) != offset(hour + 3600):
            minute = next(m for m in range(hour + 60, hour + 3601, 60) if offset(m) != offset(hour))
            found.append(minute)
    return found
