"""Preview over real gRPC on the shared server: bounded work, off the event loop (issue 12.7)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from meshq.api.scheduler import SchedulerClient
from meshq.scheduler import cron, preview


def _ms(text: str) -> int:
    return cron.to_ms(cron.parse_instant(text))


async def test_every_second_in_apia_across_the_skipped_day_answers_at_once(
        client: SchedulerClient) -> None:
    # The report: 209 s on the event loop. Samoa skipped 2011-12-30 (-10 -> +14).
    got = await client.preview("* * * * * *", timezone="Pacific/Apia",
                               from_unix_ms=_ms("2011-12-30T09:59:58Z"), count=3, timeout=10)
    assert list(got.instants_local) == ["2011-12-29T23:59:59-10:00", "2011-12-31T00:00:00+14:00",
                                        "2011-12-31T00:00:01+14:00"]
    assert not got.stopped and got.stopped_reason == ""


async def test_a_preview_over_its_work_bound_answers_what_it_found_and_says_so(
        client: SchedulerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a work bound of 500 steps per Preview (each instant of an every-second schedule
    # takes a few)
    monkeypatch.setattr(preview, "PREVIEW_STEPS", 500)
    # When 1000 instants are asked for
    got = await client.preview("* * * * * *", timezone="Europe/Berlin",
                               from_unix_ms=_ms("2026-03-29T00:59:00Z"), count=1000, timeout=10)
    # Then it answers the first instants in order, and says it stopped
    assert got.stopped and "step bound" in got.stopped_reason
    assert 0 < len(got.instants_unix_ms) < 1000
    assert list(got.instants_unix_ms) == [_ms("2026-03-29T00:59:00Z") + 1000 * (i + 1)
                                          for i in range(len(got.instants_unix_ms))]


def test_the_time_bound_stops_a_preview_too() -> None:
    budget = cron.Budget(steps=10**9, deadline=0.0)  # a deadline long past
    result = preview.preview_bounded("* * * * * *", "UTC", datetime(2026, 1, 1, tzinfo=UTC),
                                     1000, budget)
    assert result.stopped.startswith("the time bound ran out") and len(result.instants) < 1000


async def test_a_cheap_preview_answers_while_a_costly_one_is_still_computing(
        client: SchedulerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The costly Preview spins on the CPU in its thread until the cheap one has answered;
    if Preview ran on the event loop, the cheap one could not answer before it (the call
    would time out instead)."""
    costly_started, cheap_answered = threading.Event(), threading.Event()
    real = cron.preview_instants

    def instants(schedule, tz, after, count, budget):  # type: ignore[no-untyped-def]
        if schedule.expr == "* * * * * *" and count == 999:
            costly_started.set()
            give_up = time.monotonic() + 30  # a safety net against a hang, not a timing check
            while not cheap_answered.wait(0) and time.monotonic() < give_up:
                sum(range(2000))  # CPU work, holding the GIL as a costly evaluation does
            budget = cron.Budget()  # the spin stood for the work: a fresh bound for the rest
        return real(schedule, tz, after, count, budget)

    monkeypatch.setattr(cron, "preview_instants", instants)
    # Given a costly Preview in progress
    costly = asyncio.create_task(client.preview("* * * * * *", count=999, timeout=30))
    assert await asyncio.to_thread(costly_started.wait, 20)
    # When a cheap one is issued, Then it answers while the costly one is still running
    cheap = await client.preview("0 9 * * 1", timezone="Europe/Berlin",
                                 from_unix_ms=_ms("2026-01-01T00:00:00Z"), count=2, timeout=20)
    assert not costly.done()
    cheap_answered.set()
    assert list(cheap.instants_local) == ["2026-01-05T09:00:00+01:00", "2026-01-12T09:00:00+01:00"]
    # And the costly one answers in full afterwards
    assert len((await costly).instants_unix_ms) == 999
