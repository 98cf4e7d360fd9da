"""The cases of issue 12, points 1-6, exactly as reported: schedule, zone, window -> instants.

Each was wrong before meshq evaluated cron itself (see docs/scheduler.md, "Time rules").
Point 7 (Preview) is in test_preview.py.
"""

from __future__ import annotations

import pytest

from meshq.core.errors import InvalidArgument
from meshq.scheduler import cron


def nexts(expr: str, zone: str, after: str, count: int) -> list[str]:
    schedule, tz = cron.parse_schedule(expr), cron.parse_timezone(zone)
    return [d.isoformat() for d in cron.next_instants(schedule, tz, cron.parse_instant(after), count)]


# 1. Wildcard schedules have no instants inside a spring-forward gap.
@pytest.mark.parametrize(("expr", "zone", "after", "expected"), [
    ("0 */2 * * *", "America/New_York", "2026-03-08T04:00:00Z",  # 23:00 EST on the 7th
     ["2026-03-08T00:00:00-05:00", "2026-03-08T04:00:00-04:00"]),  # no 03:00 EDT
    ("*/20 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
     ["2026-03-30T02:00:00+02:00"]),  # nothing on the 29th (no 03:00 CEST)
    ("*/20 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",  # 02:00-02:30 skipped
     ["2026-10-04T02:40:00+11:00", "2026-10-05T02:00:00+11:00"]),  # no 02:30+11
    ("*/20 2 * * *", "Africa/Casablanca", "2026-03-21T12:00:00Z",  # 02:00-03:00 skipped
     ["2026-03-23T02:00:00+01:00"]),
    ("*/12 2 * * *", "Pacific/Chatham", "2026-09-26T12:00:00Z",  # 02:45-03:45 skipped
     ["2026-09-27T02:00:00+12:45", "2026-09-27T02:12:00+12:45", "2026-09-27T02:24:00+12:45",
      "2026-09-27T02:36:00+12:45", "2026-09-28T02:00:00+13:45"]),  # no 03:45+13:45
    ("* */8 * * *", "America/Santiago", "2026-09-05T23:00:00Z",  # 00:00-01:00 skipped
     ["2026-09-06T08:00:00-03:00"]),  # no 01:00
    ("* 30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",  # 6 fields, wildcard seconds
     ["2026-03-09T02:30:00-04:00"]),
])
def test_wildcard_schedules_have_nothing_in_a_gap(expr: str, zone: str, after: str,
                                                  expected: list[str]) -> None:
    assert nexts(expr, zone, after, len(expected)) == expected


# 2. Wildcard schedules fire in both passes of a repeat, 30-minute repeats included.
@pytest.mark.parametrize(("expr", "zone", "after", "expected"), [
    ("*/7 * * * *", "Australia/Lord_Howe", "2026-04-05T01:50:00+11:00",
     ["2026-04-05T01:56:00+11:00", "2026-04-05T01:35:00+10:30", "2026-04-05T01:42:00+10:30",
      "2026-04-05T01:49:00+10:30", "2026-04-05T01:56:00+10:30", "2026-04-05T02:00:00+10:30"]),
    ("*/20 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z",
     ["2026-04-05T01:00:00+11:00", "2026-04-05T01:20:00+11:00", "2026-04-05T01:40:00+11:00",
      "2026-04-05T01:40:00+10:30", "2026-04-06T01:00:00+10:30"]),
    ("*/7 * * * *", "America/Caracas", "2007-12-09T06:50:00Z",  # 03:00-04 -> 02:30-04:30
     ["2007-12-09T02:56:00-04:00", "2007-12-09T02:35:00-04:30", "2007-12-09T02:42:00-04:30",
      "2007-12-09T02:49:00-04:30", "2007-12-09T02:56:00-04:30", "2007-12-09T03:00:00-04:30"]),
    ("*/20 23 * * *", "Asia/Pyongyang", "2015-08-14T14:00:00Z",  # 00:00+09 -> 23:30+08:30
     ["2015-08-14T23:20:00+09:00", "2015-08-14T23:40:00+09:00", "2015-08-14T23:40:00+08:30",
      "2015-08-15T23:00:00+08:30"]),
])
def test_wildcard_schedules_fire_in_both_passes_of_a_repeat(expr: str, zone: str, after: str,
                                                            expected: list[str]) -> None:
    assert nexts(expr, zone, after, len(expected)) == expected


# 3. Fixed-time schedules fire once at the transition instant, seconds field or not.
@pytest.mark.parametrize(("expr", "zone", "after", "expected"), [
    ("15 30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:15-04:00"]),  # not 03:00:15
    ("30 0 0 * * *", "America/Santiago", "2026-09-05T12:00:00Z",
     ["2026-09-06T01:00:00-03:00", "2026-09-07T00:00:30-03:00"]),  # not 01:00:30
    ("30 22-32/8 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",  # 02:22:30 skipped
     ["2026-10-04T02:30:00+11:00", "2026-10-04T02:30:30+11:00", "2026-10-05T02:22:30+11:00"]),
    ("15,45 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",  # two in the gap: once
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"]),
])
def test_fixed_time_schedules_fire_once_at_the_transition(expr: str, zone: str, after: str,
                                                          expected: list[str]) -> None:
    assert nexts(expr, zone, after, len(expected)) == expected


# 4. N-N is the single value N.
@pytest.mark.parametrize(("expr", "expected"), [
    ("0 3-3 * * *", ["2026-01-01T03:00:00+00:00", "2026-01-02T03:00:00+00:00"]),
    ("29 4-4 * * *", ["2026-01-01T04:29:00+00:00", "2026-01-02T04:29:00+00:00"]),
    ("0 0 1 6-6 *", ["2026-06-01T00:00:00+00:00", "2027-06-01T00:00:00+00:00"]),
    ("0 0 * * 1-1", ["2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00"]),
])
def test_equal_ended_ranges_are_one_value(expr: str, expected: list[str]) -> None:
    assert nexts(expr, "UTC", "2026-01-01T00:00:00Z", 2) == expected


# 5. Day of month and day of week: AND when either starts with '*', else OR.
@pytest.mark.parametrize(("expr", "expected"), [
    ("0 0 */2 * 1", ["2026-01-05T00:00:00+00:00", "2026-01-19T00:00:00+00:00",  # odd Mondays
                     "2026-02-09T00:00:00+00:00"]),
    ("0 0 30 2 1", ["2026-02-02T00:00:00+00:00", "2026-02-09T00:00:00+00:00",  # Feb Mondays
                    "2026-02-16T00:00:00+00:00"]),
    ("0 0 31 2 MON", ["2026-02-02T00:00:00+00:00", "2026-02-09T00:00:00+00:00",
                      "2026-02-16T00:00:00+00:00"]),
    ("0 0 13 * 5", ["2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00",  # Fridays or 13th
                    "2026-01-13T00:00:00+00:00"]),
    ("0 0 13 * *", ["2026-01-13T00:00:00+00:00", "2026-02-13T00:00:00+00:00",
                    "2026-03-13T00:00:00+00:00"]),
])
def test_day_of_month_and_day_of_week(expr: str, expected: list[str]) -> None:
    assert nexts(expr, "UTC", "2026-01-01T00:00:00Z", 3) == expected


def test_a_day_that_never_comes_is_refused_only_when_the_days_are_anded() -> None:
    with pytest.raises(InvalidArgument, match="never fire"):
        cron.parse_schedule("0 0 30 2 *")
    with pytest.raises(InvalidArgument, match="never fire"):
        cron.parse_schedule("0 0 31 4 */2")


# 6. The extensions: supported with a meaning, or refused naming the token.
@pytest.mark.parametrize(("expr", "expected"), [
    ("0 0 L * *", ["2026-01-31T00:00:00+00:00", "2026-02-28T00:00:00+00:00"]),  # last day
    ("0 0 * * 5#2", ["2026-01-09T00:00:00+00:00", "2026-02-13T00:00:00+00:00"]),  # 2nd Friday
    ("0 0 ? * 1", ["2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00"]),  # ? is *
    ("0 0 1 * ?", ["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"]),
    ("0 0 12 * * 0", ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00"]),  # 0 = Sunday
    ("0 0 12 * * 7", ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00"]),  # so is 7
    ("0 5/20 * * *", ["2026-01-01T05:00:00+00:00", "2026-01-02T05:00:00+00:00"]),  # N/S
    ("@weekly", ["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00"]),
])
def test_supported_extensions(expr: str, expected: list[str]) -> None:
    assert nexts(expr, "UTC", "2026-01-01T00:00:00Z", 2) == expected


@pytest.mark.parametrize(("expr", "token"), [
    ("0 0 15W * *", "'15W'"), ("0 0 LW * *", "'LW'"), ("0 0 * * 5L", "'5L'"),
    ("0 0 L-3 * *", "'L-3'"), ("H * * * *", "'H'"), ("0 0 * * 5-1", "'5-1'"),
    ("0 22-2 * * *", "'22-2'"), ("0 0 * * 2#6", "'2#6'"), ("0 0 1#2 * *", "'1#2'"),
    ("@reboot", "'@reboot'"), ("? * * * *", "'?'"), ("0 0 * 13 *", "'13'"),
])
def test_refused_extensions_name_the_token(expr: str, token: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        cron.parse_schedule(expr)
    assert token in err.value.message and err.value.message.startswith("schedule")


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "right/UTC",
                                  "posix/Europe/Berlin", "Mars/Olympus", "/etc/localtime"])
def test_zones_that_are_not_iana_names_are_refused(zone: str) -> None:
    with pytest.raises(InvalidArgument, match="not an IANA zone name"):
        cron.parse_timezone(zone)


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "US/Eastern", "Europe/Kiev", "Asia/Calcutta",
                                  "Pacific/Apia", "America/Argentina/Buenos_Aires"])
def test_canonical_zones_and_links_are_accepted(zone: str) -> None:
    assert cron.parse_timezone(zone).key == zone


# 24-hour skips and repeats.
def test_a_skipped_day_fires_fixed_time_once_at_the_transition_and_wildcards_not_at_all() -> None:
    # Kwajalein went from -12 to +12 on 1993-08-21: the whole local day was skipped
    assert nexts("0 12 * * *", "Pacific/Kwajalein", "1993-08-20T00:00:00Z", 3) == [
        "1993-08-20T12:00:00-12:00", "1993-08-22T00:00:00+12:00", "1993-08-22T12:00:00+12:00"]
    assert nexts("0 */6 * * *", "Pacific/Kwajalein", "1993-08-21T05:00:00Z", 2) == [
        "1993-08-20T18:00:00-12:00", "1993-08-22T00:00:00+12:00"]


def test_a_repeated_day_fires_fixed_time_once_and_wildcards_twice() -> None:
    # Apia moved from +12:33:04 to -11:26:56 on 1892-07-04: the local day was lived twice
    assert nexts("0 12 * * *", "Pacific/Apia", "1892-07-03T00:00:00Z", 2) == [
        "1892-07-04T12:00:00+12:33:04", "1892-07-05T12:00:00-11:26:56"]
    assert nexts("0 */12 * * *", "Pacific/Apia", "1892-07-03T00:00:00Z", 4) == [
        "1892-07-04T00:00:00+12:33:04", "1892-07-04T12:00:00+12:33:04",
        "1892-07-04T00:00:00-11:26:56", "1892-07-04T12:00:00-11:26:56"]
