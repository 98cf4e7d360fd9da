"""`meshq queue open --rate-limit/--key-concurrency` and `queue send --priority/--key` against
the real server (the proto fields, the SDK and the servicer's conversion on the way)."""

from __future__ import annotations

from typing import Any

from meshq.cli.common import EXIT_USAGE
from tests.cli.test_queue_cli import _json, meshq


async def test_flow_options_show_in_queue_list_and_reopen_keeps_them(server: Any,
                                                                      unique: str) -> None:
    opened = _json(await meshq(server, "queue", "open", "--room", unique, "--queue", "llm",
                               "--rate-limit", "2.5", "--rate-burst", "5",
                               "--key-concurrency", "3", "-o", "json"))
    assert (opened["rate_limit"], opened["rate_burst"], opened["key_concurrency"]) == (2.5, 5, 3)
    # Reopening with another option keeps the flow options; 0 removes one
    again = _json(await meshq(server, "queue", "open", "--room", unique, "--queue", "llm",
                              "--max-deliveries", "7", "--key-concurrency", "0", "-o", "json"))
    assert (again["rate_limit"], again["key_concurrency"], again["max_deliveries"]) == (2.5, 0, 7)
    table = await meshq(server, "queue", "list", "--room", unique)
    assert table.exit_code == 0 and "2.5 (burst 5)" in table.stdout


async def test_priority_and_key_order_deliveries(server: Any, unique: str) -> None:
    for body, prio in (("1", "0"), ("2", "7"), ("3", "7"), ("4", "9")):
        assert (await meshq(server, "queue", "send", "--room", unique, "--queue", "q",
                            "--json", body, "--priority", prio, "--key", "tenant-a",
                            "--create-room")).exit_code == 0
    got = _json(await meshq(server, "queue", "receive", "--room", unique, "--queue", "q",
                            "--max", "10", "--no-wait", "-o", "json"))
    assert [m["body"] for m in got] == [4, 2, 3, 1]
    assert (got[0]["priority"], got[0]["key"], got[0]["headers"]) == (9, "tenant-a", {})


async def test_a_priority_out_of_range_is_a_usage_error(server: Any, unique: str) -> None:
    bad = await meshq(server, "queue", "send", "--room", unique, "--queue", "q", "--json", "1",
                      "--priority", "10", "--create-room")
    assert bad.exit_code == EXIT_USAGE and "0<=x<=9" in bad.output
