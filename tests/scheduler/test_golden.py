"""The golden corpus: expression x zone -> next instants, as meshq's evaluator computes them
(checked against the brute-force reference in test_reference.py). A change to the evaluator
or to tzdata that changes what an expression means fails here.

Regenerate deliberately (and review the diff): MESHQ_REGEN_GOLDEN=1 pytest tests/scheduler/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from meshq.scheduler import cron

GOLDEN = Path(__file__).with_name("golden_cron.json")
EXPRESSIONS = [
    "30 17 * * *", "0 0 * * *", "30 1 * * *", "30 2 * * *", "45 1 * * *", "15 2 * * *",
    "0 * * * *", "*/15 * * * *", "*/30 * * * *", "0 9 * * 1-5", "0 0 1 * *", "0 12 1,15 * *",
    "0 0 * * 0", "5 4 * * sun", "0 22 * * 1-5", "23 0-20/2 * * *", "0 0 1 1 *", "0 0 29 2 *",
    "0 0 L * *", "0 30 2 * * *", "*/10 * * * * *", "0 0 12 * * 1", "*/20 1 * * *",
    "0 0 13 * 5", "0 2 * 3,10 *",
]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"]
STARTS = ["2024-03-09T00:00:00Z", "2024-04-06T00:00:00Z", "2024-10-05T00:00:00Z",
          "2024-10-26T00:00:00Z", "2024-11-02T00:00:00Z"]
COUNT = 6


def compute() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for expr in EXPRESSIONS:
        schedule = cron.parse_schedule(expr)
        for zone in ZONES:
            tz = cron.parse_timezone(zone)
            for start in STARTS:
                found = cron.next_instants(schedule, tz, cron.parse_instant(start), COUNT)
                out[f"{expr} | {zone} | {start}"] = [d.isoformat() for d in found]
    return out


def test_golden_corpus_unchanged() -> None:
    current = compute()
    if os.environ.get("MESHQ_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        pytest.skip("golden corpus regenerated: review the diff")
    golden = json.loads(GOLDEN.read_text())
    changed = [key for key in golden if golden[key] != current.get(key)]
    assert not changed, f"{len(changed)} expressions changed meaning, first: {changed[:3]}"
    assert set(golden) == set(current)
