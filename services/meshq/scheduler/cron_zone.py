"""Zones for cron time: which names are accepted, UTC offsets, and where offsets change.

Only IANA zone names (canonical ones and their links, as the tzdata ``zones`` list has them)
are accepted; host-dependent or special names (``localtime``, ``posixrules``, ``Factory``,
``right/…``, ``posix/…``) are refused.

Offset changes (``transitions``) are found per UTC year by reading the offset every
``PROBE`` seconds and bisecting to the second where it changes; cached per zone and year.
Probing misses two changes closer together than ``PROBE``; tzdata has no offset period
shorter than 95 hours (Africa/Freetown, 1939), so 12 hours leaves a wide margin.
"""

from __future__ import annotations

import functools
import importlib.resources
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown

PROBE = 12 * 3600  # seconds between offset probes when looking for transitions
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_UTC = 253_402_128_000  # 9999-12-30T00:00:00Z: later instants use this one's offset
_REFUSED = ("localtime", "posixrules", "Factory")


class Transition(NamedTuple):
    """The UTC offset changes at ``at`` (seconds since the epoch) from ``before`` to ``after``."""

    at: int
    before: int
    after: int


@functools.cache
def zone_names() -> frozenset[str]:
    """Every accepted zone name: tzdata's list (canonical zones and links) and the system's,
    less the host-dependent and special names."""
    names: set[str] = set()
    try:
        names.update(importlib.resources.files("tzdata").joinpath("zones").read_text().split())
    except (ModuleNotFoundError, FileNotFoundError):  # no tzdata package: the system's list
        pass
    names.update(zoneinfo.available_timezones())
    return frozenset(n for n in names if n not in _REFUSED
                     and not n.startswith(("right/", "posix/", "/")))


def parse_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """An IANA zone (empty: UTC); InvalidArgument naming ``field`` otherwise."""
    if not name:
        return ZoneInfo("UTC")
    hint = "is not an IANA zone name such as 'Europe/Berlin' or 'UTC'"
    if len(name) > 64 or name not in zone_names():
        special = name in _REFUSED or name.startswith(("right/", "posix/"))
        raise InvalidArgument(f"{field} {shown(name)} {hint}" + (
            " (host-dependent and special names are refused)" if special else ""))
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(f"{field} {shown(name)} {hint}") from None


def offset(tz: ZoneInfo, at: int) -> int:
    """The UTC offset in seconds in effect at instant ``at`` (seconds since the epoch)."""
    when = (_EPOCH + timedelta(seconds=min(at, _LAST_UTC))).astimezone(tz)
    delta = when.utcoffset()
    assert delta is not None
    return delta.days * 86_400 + delta.seconds


def year_start(year: int) -> int:
    """1 January of ``year``, 00:00 UTC, in seconds since the epoch."""
    return (datetime(min(max(year, 1), 9999), 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(seconds=1)


def utc_year(at: int) -> int:
    return (_EPOCH + timedelta(seconds=min(at, _LAST_UTC))).year


@functools.lru_cache(maxsize=4096)
def transitions(tz: ZoneInfo, year: int) -> tuple[Transition, ...]:
    """The offset changes in (1 Jan ``year``, 1 Jan ``year + 1``], UTC, in order."""
    if not 1 < year < 9999:
        return ()
    start, end = year_start(year), year_start(year + 1)
    found: list[Transition] = []
    low, low_offset = start, offset(tz, start)
    while low < end:
        high = min(low + PROBE, end)
        high_offset = offset(tz, high)
        if high_offset != low_offset:
            found.append(_bisect(tz, low, high, low_offset))
        low, low_offset = high, high_offset
    return tuple(found)


def _bisect(tz: ZoneInfo, low: int, high: int, low_offset: int) -> Transition:
    """The first second in (low, high] whose offset differs from ``low_offset``."""
    while high - low > 1:
        mid = (low + high) // 2
        if offset(tz, mid) == low_offset:
            low = mid
        else:
            high = mid
    return Transition(high, low_offset, offset(tz, high))


def next_transition(tz: ZoneInfo, at: int) -> Transition | None:
    """The first offset change strictly after ``at`` within this UTC year and the next."""
    year = utc_year(at)
    for y in (year, year + 1):
        for t in transitions(tz, y):
            if t.at > at:
                return t
    return None


def last_transition(tz: ZoneInfo, at: int) -> Transition | None:
    """The latest offset change at or before ``at`` within this UTC year and the previous."""
    year = utc_year(at)
    for y in (year, year - 1):
        for t in reversed(transitions(tz, y)):
            if t.at <= at:
                return t
    return None
