"""The cron grammar: expression text -> the sets of values each field allows (pure, no time).

One dialect, written down in docs/scheduler.md: Vixie/Debian cron's 5 fields (minute hour
day-of-month month day-of-week) with its meaning, plus an optional seconds field first
(6 fields). ``N-N`` is the single value N (croniter widens it to the whole field; cron does
not). Day of month and day of week combine as Vixie cron does: when either field starts with
``*`` (or ``?``) a day must match both, otherwise either.

Extensions kept (each documented and tested): ``L`` alone in day of month (the month's last
day), ``D#N`` in day of week (the Nth such weekday of the month, N 1-5), ``?`` in day of
month / day of week (the same as ``*``), ``N/S`` (``N-max/S``) and names (``jan``, ``mon``).
Refused, naming the token: ``W`` (nearest weekday), ``LW``, ``5L``, ``L-3``, ``H``, and
wrap-around ranges such as ``22-2`` (Vixie and cronie refuse them too).
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown

FIELDS_5 = ("minute", "hour", "day of month", "month", "day of week")
FIELDS_6 = ("second",) + FIELDS_5
MAX_EXPR_CHARS = 256
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day of month": (1, 31),
           "month": (1, 12), "day of week": (0, 7)}
_NAMES = {
    "month": {n.lower(): i for i, n in enumerate(calendar.month_abbr) if n},
    "day of week": {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6},
}
_VALUE = r"[0-9]+|[a-z]{3}"
_ITEM = re.compile(rf"(?P<start>\*|{_VALUE})(?:-(?P<end>{_VALUE}))?(?:/(?P<step>[0-9]+))?$")
_NTH = re.compile(rf"(?P<day>{_VALUE})#(?P<nth>[0-9]+)$")


@dataclass(frozen=True)
class CronFields:
    """What each field allows. Weekdays are 0-6 (Sunday 0); 7 in the text is Sunday."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    last_day: bool
    """``L`` in day of month: the month's last day matches."""
    nth_weekdays: frozenset[tuple[int, int]]
    """``D#N`` in day of week: (weekday, N)."""
    day_and: bool
    """Day of month or day of week starts with ``*`` / ``?``: a day must match both."""

    def day_matches(self, year: int, month: int, day: int, weekday: int) -> bool:
        """The dom/dow rule of Vixie cron for one calendar day (``weekday`` 0 = Sunday)."""
        dom = day in self.days or (self.last_day and day == calendar.monthrange(year, month)[1])
        dow = weekday in self.weekdays or (weekday, (day - 1) // 7 + 1) in self.nth_weekdays
        return (dom and dow) if self.day_and else (dom or dow)


def _refusal(field: str, item: str) -> str | None:
    """A specific message for extensions meshq refuses, if ``item`` is one."""
    if "w" in item and field == "day of month":
        return f"{shown(item.upper())}: 'W' (nearest weekday) is not supported"
    if item.startswith("h"):
        return f"{shown(item.upper())}: 'H' (hashed values) is not supported"
    if "l" in item and field in ("day of month", "day of week"):
        if field == "day of week":
            return f"{shown(item.upper())}: 'L' (last weekday of the month) is not supported"
        if item != "l":
            return f"{shown(item.upper())}: only a lone 'L' (last day of month) is supported"
    if "#" in item and field != "day of week":
        return f"{shown(item)}: '#' is supported in the day of week field only"
    return None


def _value(field: str, text: str, item: str) -> int:
    low, high = _BOUNDS[field]
    names = _NAMES.get(field, {})
    if text in names:
        return names[text]
    if not text.isdigit():
        raise InvalidArgument(f"the {field} field {shown(item)}: {shown(text)} is not a number or name")
    value = int(text)
    if not low <= value <= high:
        raise InvalidArgument(f"the {field} field {shown(item)}: {value} is outside {low}-{high}")
    return value


def _item(field: str, item: str, values: set[int], nth: set[tuple[int, int]]) -> bool:
    """Add what one comma-separated item allows; True when the item is ``L``."""
    refused = _refusal(field, item)
    if refused is not None:
        raise InvalidArgument(f"the {field} field {refused}")
    if item == "l":
        return True
    if item == "?" or item.startswith("?/"):
        if field not in ("day of month", "day of week") or item != "?":
            raise InvalidArgument(f"the {field} field {shown(item)}: '?' stands alone, in day of "
                                  "month or day of week only")
        item = "*"
    low, high = _BOUNDS[field]
    match = _NTH.match(item)
    if match is not None:
        day, n = _value(field, match["day"], item) % 7, int(match["nth"])
        if not 1 <= n <= 5:
            raise InvalidArgument(f"the {field} field {shown(item)}: '#' takes 1-5, got {n}")
        nth.add((day, n))
        return False
    match = _ITEM.match(item)
    if match is None:
        raise InvalidArgument(f"the {field} field {shown(item)} is not valid: use N, N-M, */S, "
                              "N-M/S or a comma list")
    if match["start"] == "*":
        if match["end"] is not None:
            raise InvalidArgument(f"the {field} field {shown(item)} is not valid")
        start, end = low, high
    else:
        start = _value(field, match["start"], item)
        end = _value(field, match["end"], item) if match["end"] is not None else (
            high if match["step"] is not None else start)
    if start > end:
        raise InvalidArgument(f"the {field} field {shown(item)}: the range runs backwards "
                              f"(wrap-around ranges are not supported: write {start}-{high},"
                              f"{low}-{end})")
    step = int(match["step"]) if match["step"] is not None else 1
    if step < 1:
        raise InvalidArgument(f"the {field} field {shown(item)}: the step must be at least 1")
    values.update(range(start, end + 1, step))
    return False


def _field(field: str, text: str) -> tuple[frozenset[int], bool, frozenset[tuple[int, int]]]:
    values: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last = False
    for item in text.lower().split(","):
        if not item:
            raise InvalidArgument(f"the {field} field {shown(text)} has an empty list item")
        last = _item(field, item, values, nth) or last
    if field == "day of week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values), last, frozenset(nth)


def _can_fire(f: CronFields) -> bool:
    """True when some day matches: every (month, day, weekday) occurs in 2000-2027."""
    for year in range(2000, 2028):
        for month in sorted(f.months):
            first = date(year, month, 1)
            for day in range(1, calendar.monthrange(year, month)[1] + 1):
                if f.day_matches(year, month, day, (first.weekday() + day) % 7):
                    return True
    return False


@functools.lru_cache(maxsize=4096)
def parse_fields(expr: str) -> tuple[str, bool, bool, CronFields]:
    """(normalised text, has seconds, fixed time, fields) of ``expr``; InvalidArgument
    (without the field name of the request, added by the caller) when it is not valid."""
    if len(expr) > MAX_EXPR_CHARS or "\x00" in expr:
        raise InvalidArgument(f"is longer than {MAX_EXPR_CHARS} characters or contains NUL")
    stripped = expr.strip()
    if stripped.startswith("@") and stripped.lower() not in MACROS:
        raise InvalidArgument(f"{shown(stripped)} is not a macro meshq knows: use one of "
                              + ", ".join(MACROS))
    parts = MACROS.get(stripped.lower(), stripped).split()
    if len(parts) not in (5, 6):
        raise InvalidArgument(f"has {len(parts)} fields: use 5 (minute hour day-of-month month "
                              "day-of-week) or 6 with seconds first")
    seconds = len(parts) == 6
    names = FIELDS_6 if seconds else FIELDS_5
    parsed = {name: _field(name, part) for name, part in zip(names, parts, strict=True)}
    dom_text, dow_text = parts[-3], parts[-1]
    fields = CronFields(
        seconds=parsed["second"][0] if seconds else frozenset({0}),
        minutes=parsed["minute"][0], hours=parsed["hour"][0], days=parsed["day of month"][0],
        months=parsed["month"][0], weekdays=parsed["day of week"][0],
        last_day=parsed["day of month"][1], nth_weekdays=parsed["day of week"][2],
        day_and=dom_text.startswith(("*", "?")) or dow_text.startswith(("*", "?")),
    )
    if not _can_fire(fields):
        raise InvalidArgument("can never fire: no day matches its day of month, month and day "
                              "of week")
    time_parts = parts[: 3 if seconds else 2]
    fixed = not any(part.startswith("*") for part in time_parts)
    return " ".join(parts), seconds, fixed, fields
