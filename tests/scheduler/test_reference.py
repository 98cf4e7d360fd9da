"""The scheduler's instants against the brute-force reference (reference_cron.py), for random
expressions in many zones, over windows around their offset changes.

``make test`` runs a fast sample; ``make scheduler-reference`` (MESHQ_REFERENCE_SCALE=10)
the large one. The seed is fixed per scale, so a failure names an expression that fails
again; MESHQ_REFERENCE_SEED picks other expressions.
"""

from __future__ import annotations

import functools
import os
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from meshq.core.errors import InvalidArgument
from meshq.scheduler import cron

from .reference_cron import EPOCH, Reference, Step, instants, steps, transitions

SCALE = int(os.environ.get("MESHQ_REFERENCE_SCALE", "1"))
SEED = int(os.environ.get("MESHQ_REFERENCE_SEED", "12"))
EXPRESSIONS_5 = 110 * SCALE  # per zone
EXPRESSIONS_6 = 16 * SCALE
WINDOWS = 4 * SCALE  # per zone, each around one offset change

# zone -> years whose offset changes are windows. Kolkata and UTC have none: fixed days.
ZONES: dict[str, tuple[int, int]] = {
    "America/New_York": (2025, 2027),
    "Europe/Berlin": (2025, 2027),
    "Australia/Lord_Howe": (2025, 2027),
    "Pacific/Chatham": (2025, 2027),
    "America/Santiago": (2025, 2027),
    "Africa/Casablanca": (2025, 2027),
    "Pacific/Apia": (2010, 2012),  # DST, and 2011-12-30 skipped (a 24-hour gap)
    "America/Caracas": (2007, 2016),  # -4 -> -4:30 (30-minute repeat) -> -4 (30-minute gap)
    "Asia/Pyongyang": (2015, 2018),  # +9 -> +8:30 -> +9
    "Pacific/Kwajalein": (1993, 1993),  # -12 -> +12: a 24-hour gap
    "Asia/Kolkata": (0, 0),
    "UTC": (0, 0),
}
FIXED_DAYS = [date(2026, 2, 28), date(2026, 3, 29), date(2026, 10, 25), date(2026, 12, 31)]


def _seconds(when: datetime) -> int:
    return int((when - EPOCH).total_seconds())


@functools.cache
def windows(zone: str, unit: int) -> list[list[Step]]:
    """Steps around each offset change (26 hours by the minute, 1 hour by the second)."""
    first, last = ZONES[zone]
    half = 13 * 3600 if unit == 60 else 1800
    if first:
        centres = transitions(zone, first, last)[:WINDOWS]
    else:
        centres = [_seconds(datetime(d.year, d.month, d.day, 2, tzinfo=UTC)) for d in FIXED_DAYS]
    return [steps(zone, c - half, c + half, unit) for c in centres[:WINDOWS]]


def _item(rng: random.Random, lo: int, hi: int, hot: list[int]) -> str:
    pick = lambda: rng.choice(hot) if hot and rng.random() < 0.5 else rng.randint(lo, hi)  # noqa: E731
    kind = rng.random()
    if kind < 0.25:
        return str(pick())
    if kind < 0.4:
        a = pick()
        return f"{a}-{a}"  # N-N: the single value N
    if kind < 0.65:
        a = pick()
        b = rng.randint(a, hi)
        return f"{a}-{b}" + (f"/{rng.randint(1, 9)}" if rng.random() < 0.4 else "")
    if kind < 0.8:
        return f"*/{rng.randint(2, max(2, (hi - lo) // 2))}"
    if kind < 0.9:
        return f"{pick()}/{rng.randint(2, 20)}"
    return ",".join(str(pick()) for _ in range(rng.randint(2, 4)))


def _field(rng: random.Random, lo: int, hi: int, star: float, hot: list[int]) -> str:
    if rng.random() < star:
        return "*"
    return ",".join(_item(rng, lo, hi, hot) for _ in range(rng.choice([1, 1, 1, 2])))


def _day_fields(rng: random.Random) -> tuple[str, str]:
    dom = _field(rng, 1, 31, 0.6, [1, 28, 29, 30, 31])
    if dom != "*" and rng.random() < 0.1:
        dom = "L"
    dow = _field(rng, 0, 7, 0.55, [0, 6, 7])
    if dow != "*" and rng.random() < 0.15:
        dow = f"{rng.randint(0, 6)}#{rng.randint(1, 5)}"
    if dom == "*" and rng.random() < 0.15:
        dom = "?"
    elif dow == "*" and rng.random() < 0.15:
        dow = "?"
    return dom, dow


def expression(rng: random.Random, six: bool) -> str:
    minute = _field(rng, 0, 59, 0.25, [0, 15, 30, 45, 59])
    hour = _field(rng, 0, 23, 0.35, [0, 1, 2, 3, 23])
    dom, dow = _day_fields(rng)
    month = _field(rng, 1, 12, 0.8, [3, 4, 9, 10, 12])
    fields = [minute, hour, dom, month, dow]
    if six:
        fields.insert(0, _field(rng, 0, 59, 0.35, [0, 15, 30, 59]))
    return " ".join(fields)


def _compare(expr: str, zone: str, window: list[Step]) -> None:
    start, end = window[0].at - (window[1].at - window[0].at), window[-1].at
    try:
        schedule = cron.parse_schedule(expr)
    except InvalidArgument as err:
        assert "never fire" in err.message, (expr, err.message)
        return  # checked against the reference's days in test_day_rules
    found = cron.ms_between(schedule, cron.parse_timezone(zone), start * 1000, end * 1000, 100_000)
    expected = instants(Reference.parse(expr), window)
    got = [ms // 1000 for ms in found]
    if got != expected:
        extra = sorted(set(got) - set(expected))[:3]
        missing = sorted(set(expected) - set(got))[:3]
        show = lambda xs: [(EPOCH + timedelta(seconds=x)).isoformat() for x in xs]  # noqa: E731
        pytest.fail(f"{expr!r} in {zone}, window from {show([start])[0]}: scheduler also "
                    f"fires at {show(extra)}, misses {show(missing)}")


@pytest.mark.parametrize("zone", sorted(ZONES))
@pytest.mark.parametrize(("six", "count", "unit"), [(False, EXPRESSIONS_5, 60),
                                                    (True, EXPRESSIONS_6, 1)],
                         ids=["five-field", "six-field"])
def test_random_expressions_match_the_reference(zone: str, six: bool, count: int,
                                                unit: int) -> None:
    """Five-field expressions over minute-spaced windows, six-field over second-spaced ones."""
    rng = random.Random(f"{SEED}-{zone}-{6 if six else 5}")
    for _ in range(count):
        expr = expression(rng, six=six)
        for window in windows(zone, unit):
            _compare(expr, zone, window)


def test_day_rules_match_the_reference_over_four_years() -> None:
    """Day of month x month x day of week (the AND-when-either-starts-with-* rule, L, #, ?,
    N-N) day by day over 2024-2027; an expression the scheduler refuses as never firing has
    no day in the reference either."""
    rng = random.Random(f"{SEED}-days")
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(4 * 365 + 1)]
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    for _ in range(200 * SCALE):
        dom, dow = _day_fields(rng)
        expr = f"0 12 {dom} {_field(rng, 1, 12, 0.5, [2, 4])} {dow}"
        ref = Reference.parse(expr)
        expected = [d for d in days if ref.day(datetime(d.year, d.month, d.day))]
        try:
            schedule = cron.parse_schedule(expr)
        except InvalidArgument as err:
            assert "never fire" in err.message and not expected, (expr, err.message)
            continue
        found = cron.instants_between(schedule, cron.parse_timezone("UTC"), start, end, 10_000)
        assert [i.date() for i in found] == expected, expr
