"""Cron time as pure functions of fixed instants: ordinary schedules, DST, validation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meshq.core.errors import InvalidArgument
from meshq.scheduler import cron


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def nexts(expr: str, zone: str, after: datetime, count: int) -> list[str]:
    tz = cron.parse_timezone(zone)
    return [d.isoformat() for d in cron.next_instants(cron.parse_schedule(expr), tz, after, count)]


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [
        ("30 17 * * *", "UTC", utc(2024, 5, 1, 12), ["2024-05-01T17:30:00+00:00", "2024-05-02T17:30:00+00:00"]),
        ("30 17 * * *", "UTC", utc(2024, 5, 1, 17, 30), ["2024-05-02T17:30:00+00:00", "2024-05-03T17:30:00+00:00"]),
        ("*/15 * * * *", "UTC", utc(2024, 5, 1, 0, 7), ["2024-05-01T00:15:00+00:00", "2024-05-01T00:30:00+00:00"]),
        ("0 9 * * 1-5", "Europe/Berlin", utc(2024, 5, 3, 12),
         ["2024-05-06T09:00:00+02:00", "2024-05-07T09:00:00+02:00"]),
        ("0 0 1 * *", "UTC", utc(2024, 1, 31, 1), ["2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"]),
        ("0 0 29 2 *", "UTC", utc(2024, 3, 1), ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
        ("*/20 * * * * *", "UTC", utc(2024, 5, 1, 0, 0, 5),
         ["2024-05-01T00:00:20+00:00", "2024-05-01T00:00:40+00:00"]),
        ("0 30 17 * * *", "America/New_York", utc(2024, 5, 1),
         ["2024-05-01T17:30:00-04:00", "2024-05-02T17:30:00-04:00"]),
        ("@daily", "UTC", utc(2024, 5, 1, 3), ["2024-05-02T00:00:00+00:00", "2024-05-03T00:00:00+00:00"]),
        ("0 12 * * 0", "Asia/Kolkata", utc(2024, 5, 1), ["2024-05-05T12:00:00+05:30", "2024-05-12T12:00:00+05:30"]),
    ],
)
def test_next_instants_of_ordinary_schedules(expr: str, zone: str, after: datetime, expected: list[str]) -> None:
    assert nexts(expr, zone, after, 2) == expected


# (zone, spring-forward local date, fall-back local date) for 2024
TRANSITIONS = {
    "America/New_York": (date(2024, 3, 10), date(2024, 11, 3)),
    "Europe/Berlin": (date(2024, 3, 31), date(2024, 10, 27)),
    "Australia/Lord_Howe": (date(2024, 10, 6), date(2024, 4, 7)),
    "UTC": (date(2024, 3, 10), date(2024, 11, 3)),
}


def fires_per_local_day(expr: str, zone: str, day: date) -> tuple[Counter[date], list[datetime]]:
    """Instants over three local days around ``day``; counts by local date."""
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(days=1, seconds=1)
    end = start + timedelta(days=3)
    found = cron.instants_between(cron.parse_schedule(expr), tz, start, end, 10_000)
    return Counter(d.date() for d in found), found


# Fires on the transition's local day of the wildcard schedules: one per elapsed hour (or
# half hour) of a 23 / 25 hour day. Lord Howe's day is 23.5 / 24.5 hours: an hour mark falls
# in its half-hour gap (none then) and a half-hour mark in its repeat (fires twice).
WILDCARD_COUNTS = {
    ("America/New_York", "spring"): {"0 * * * *": 23, "*/30 * * * *": 46},
    ("America/New_York", "fall"): {"0 * * * *": 25, "*/30 * * * *": 50},
    ("Europe/Berlin", "spring"): {"0 * * * *": 23, "*/30 * * * *": 46},
    ("Europe/Berlin", "fall"): {"0 * * * *": 25, "*/30 * * * *": 50},
    ("Australia/Lord_Howe", "spring"): {"0 * * * *": 23, "*/30 * * * *": 47},
    ("Australia/Lord_Howe", "fall"): {"0 * * * *": 24, "*/30 * * * *": 49},
    ("UTC", "spring"): {"0 * * * *": 24, "*/30 * * * *": 48},
    ("UTC", "fall"): {"0 * * * *": 24, "*/30 * * * *": 48},
}


@pytest.mark.parametrize("zone", sorted(TRANSITIONS))
@pytest.mark.parametrize("which", ["spring", "fall"])
@pytest.mark.parametrize(
    ("expr", "per_day"),
    [
        ("30 17 * * *", lambda hours: 1),      # far from the transition
        ("30 2 * * *", lambda hours: 1),       # in the spring gap (NY, Berlin)
        ("30 1 * * *", lambda hours: 1),       # in the fall-back repeat (NY); Lord Howe's 01:30-02:00
        ("45 1 * * *", lambda hours: 1),       # Lord Howe's repeated half hour
        ("15 2 * * *", lambda hours: 1),       # Lord Howe's spring gap 02:00-02:30
        ("0 30 2 * * *", lambda hours: 1),     # seconds first, fixed time in the gap
        ("0 * * * *", None),                   # hourly: elapsed spacing, count depends on the day
        ("*/30 * * * *", None),
    ],
)
def test_dst_fire_counts_and_strictly_increasing(zone: str, which: str, expr: str, per_day: object) -> None:
    spring, fall = TRANSITIONS[zone]
    day = spring if which == "spring" else fall
    counts, found = fires_per_local_day(expr, zone, day)
    utcs = [d.astimezone(UTC) for d in found]
    assert utcs == sorted(set(utcs)), "instants must be strictly increasing"
    if callable(per_day):
        for local_day in (day - timedelta(days=1), day, day + timedelta(days=1)):
            assert counts[local_day] == 1, (local_day, counts)
    else:
        # wildcard-hour schedules keep elapsed spacing: same gap between every two instants
        # in UTC, unless the zone moves by half an hour (Lord Howe) and the hour-mark moves.
        gaps = {b - a for a, b in zip(utcs, utcs[1:], strict=False)}
        if zone != "Australia/Lord_Howe":
            assert len(gaps) == 1, gaps
        assert counts[day] == WILDCARD_COUNTS[(zone, which)][expr]


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [
        # fall-back, fixed time: once, at the first occurrence (EDT)
        ("30 1 * * *", "America/New_York", utc(2024, 11, 2, 12),
         ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"]),
        # resuming from the stored first occurrence: the repeat is not fired
        ("30 1 * * *", "America/New_York", utc(2024, 11, 3, 5, 30),
         ["2024-11-04T01:30:00-05:00"]),
        # spring gap, fixed time: once, at the first valid instant
        ("30 2 * * *", "America/New_York", utc(2024, 3, 9, 12),
         ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"]),
        ("15,45 2 * * *", "America/New_York", utc(2024, 3, 9, 12),
         ["2024-03-10T03:00:00-04:00", "2024-03-11T02:15:00-04:00"]),
        # wildcard minute in the repeated hour: both passes (elapsed spacing)
        ("*/30 * * * *", "America/New_York", utc(2024, 11, 3, 4, 50),
         ["2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T01:00:00-05:00",
          "2024-11-03T01:30:00-05:00"]),
        # Lord Howe falls back 30 minutes: 01:45 exists twice, fires once
        ("45 1 * * *", "Australia/Lord_Howe", utc(2024, 4, 6, 10),
         ["2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"]),
        # Lord Howe springs forward 30 minutes: 02:15 does not exist, fires at 02:30
        ("15 2 * * *", "Australia/Lord_Howe", utc(2024, 10, 5, 10),
         ["2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"]),
        ("30 2 * * *", "Europe/Berlin", utc(2024, 3, 30, 12),
         ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"]),
        ("30 2 * * *", "Europe/Berlin", utc(2024, 10, 26, 12),
         ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]),
    ],
)
def test_dst_exact_instants(expr: str, zone: str, after: datetime, expected: list[str]) -> None:
    assert nexts(expr, zone, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 32 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day of week"),
        ("61 * * * * *", "second"),
        ("0 0 31 2 *", "never fire"),
        ("0 0 30 2 *", "never fire"),
        ("* * *", "3 fields"),
        ("", "required"),
        ("a b c d e", "minute"),
    ],
)
def test_invalid_schedules_name_the_field(expr: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        cron.parse_schedule(expr)
    assert field in err.value.message
    assert err.value.message.startswith("schedule")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "UTC+5"])
def test_unknown_timezones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidArgument, match="timezone"):
        cron.parse_timezone(zone)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        cron.next_instants(cron.parse_schedule("* * * * *"), ZoneInfo("UTC"), datetime(2024, 1, 1), 1)


def test_millisecond_helpers_round_trip() -> None:
    when = utc(2024, 11, 3, 5, 30, 0) + timedelta(milliseconds=7)
    ms = cron.to_ms(when)
    assert cron.from_ms(ms) == when
    assert cron.iso_ms(ms) == "2024-11-03T05:30:00.007Z"
    assert cron.parse_instant("2024-11-03T05:30:00.007Z") == when


@pytest.mark.parametrize(
    ("expr", "zone", "expected"),
    [("* * * * *", "Pacific/Kiritimati", 5), ("0 0 29 2 *", "UTC", 0), ("59 59 23 31 12 *", "UTC", 1),
     ("59 59 23 31 12 *", "Etc/GMT+12", 2), ("0 0 1 1 *", "UTC", 0), ("0 0 1 1 *", "Etc/GMT+12", 1)],
)
def test_instants_end_before_year_10000_instead_of_overflowing(expr: str, zone: str, expected: int) -> None:
    found = cron.next_instants(cron.parse_schedule(expr), cron.parse_timezone(zone),
                               cron.from_ms(cron.MAX_INSTANT_MS), 5)
    assert len(found) == expected
    assert all(cron.to_ms(i) > cron.MAX_INSTANT_MS for i in found)


@pytest.mark.parametrize("ms", [-(2**63), -1, cron.MAX_INSTANT_MS + 1, 2**63 - 1])
def test_instant_range_check_names_field_and_range(ms: int) -> None:
    with pytest.raises(InvalidArgument, match=r"from_unix_ms must be between 0 .* and 253370764800000"):
        cron.check_instant_ms("from_unix_ms", ms)
    assert cron.check_instant_ms("x", 0) == 0 and cron.check_instant_ms("x", cron.MAX_INSTANT_MS)


@pytest.mark.parametrize("expr", ["*/30 * * * *", "30 1 * * *", "0 * * * *", "*/20 1 * * *"])
@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe"])
def test_cached_next_ms_after_chains_like_next_instants(expr: str, zone: str) -> None:
    schedule, tz = cron.parse_schedule(expr), cron.parse_timezone(zone)
    start = utc(2024, 11, 2) if zone == "America/New_York" else utc(2024, 4, 6)
    expected = [cron.to_ms(i) for i in cron.next_instants(schedule, tz, start, 60)]
    chained, after = [], cron.to_ms(start)
    for _ in range(60):
        nxt = cron.next_ms_after(schedule, tz, after)
        assert nxt is not None
        chained.append(nxt)
        after = nxt
    assert chained == expected and chained == sorted(set(chained))
