"""`meshq rooms …`, `meshq room queue …` and `meshq queue …` against the real server.

The CLI runs ``asyncio.run`` itself, so each invocation runs in a worker thread while the
session loop keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from meshq.cli.common import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE
from meshq.cli.main import cli


async def meshq(server: Any, *args: str, address: str | None = None) -> Result:
    """Run one command with the server's address and token."""
    full = [*args, "--server", address or server.address, "--token", server.token or "none",
            "--timeout", "10"]
    return await asyncio.to_thread(CliRunner().invoke, cli, full, catch_exceptions=False)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_rooms_create_list_delete(server: Any, unique: str) -> None:
    assert (await meshq(server, "rooms", "create", "--name", unique)).exit_code == 0
    again = await meshq(server, "rooms", "create", "--name", unique)
    assert again.exit_code == EXIT_REFUSED and "ALREADY_EXISTS" in again.stderr
    assert (await meshq(server, "rooms", "create", "--name", unique,
                        "--if-not-exists")).exit_code == 0
    listed = _json(await meshq(server, "rooms", "list", "-o", "json"))
    assert unique in [r["name"] for r in listed]
    assert (await meshq(server, "rooms", "delete", unique)).exit_code == 0
    assert unique not in [r["name"] for r in _json(await meshq(server, "rooms", "list",
                                                               "-o", "json"))]


async def test_send_then_receive_with_the_alias(server: Any, unique: str) -> None:
    # The reference's command: `meshq queue send --room=R --queue=Q --json '{...}'`
    sent = _json(await meshq(server, "queue", "send", f"--room={unique}", "--queue=test",
                             "--json", '{"instructions": "save a poem"}', "--header", "k=v",
                             "--create-room", "-o", "json"))
    [message_id] = sent["message_ids"]
    peeked = _json(await meshq(server, "room", "queue", "peek", "--room", unique,
                               "--queue", "test", "-o", "json"))
    assert [(m["message_id"], m["body"], m["headers"]["k"]) for m in peeked] == [
        (message_id, {"instructions": "save a poem"}, "v")]
    got = _json(await meshq(server, "room", "queue", "receive", "--room", unique,
                            "--queue", "test", "--no-wait", "-o", "json"))
    assert [m["body"] for m in got] == [{"instructions": "save a poem"}]
    # --ack (the default) removed it
    assert _json(await meshq(server, "queue", "receive", "--room", unique, "--queue", "test",
                             "--no-wait", "-o", "json")) == []


async def test_send_file_in_batches_keeps_order(server: Any, unique: str,
                                                tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"n": i}) + "\n" + ("\n" if i % 5 == 0 else "")
                            for i in range(23)))
    sent = _json(await meshq(server, "queue", "send", "--room", unique, "--queue", "jobs",
                             "--file", str(jobs), "--batch-size", "7", "--create-room",
                             "-o", "json"))
    assert len(sent["message_ids"]) == 23
    [info] = _json(await meshq(server, "queue", "list", "--room", unique, "-o", "json"))
    assert (info["name"], info["depth"]) == ("jobs", 23)
    got = _json(await meshq(server, "queue", "receive", "--room", unique, "--queue", "jobs",
                            "--max", "50", "--no-wait", "--no-ack", "-o", "json"))
    assert [m["body"]["n"] for m in got] == list(range(23))
    assert all(m["lease_token"] for m in got)


async def test_bad_json_is_a_usage_error_naming_the_position(server: Any, unique: str,
                                                             tmp_path: Path) -> None:
    bad = await meshq(server, "queue", "send", "--room", unique, "--queue", "jobs",
                      "--json", '{"a": }')
    assert bad.exit_code == EXIT_USAGE
    assert "line 1 column 7" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"ok": 1}\n{"ok": 2}\n{"broken"\n')
    bad_file = await meshq(server, "queue", "send", "--room", unique, "--queue", "jobs",
                           "--file", str(jobs))
    assert bad_file.exit_code == EXIT_USAGE and "line 3" in bad_file.stderr
    # nothing was sent: the room was never even created
    rooms = _json(await meshq(server, "rooms", "list", "-o", "json"))
    assert unique not in [r["name"] for r in rooms]


@pytest.mark.parametrize("args", [
    ("--json", "1", "--file", "x.jsonl"),
    (),
    ("--json", "1", "--header", "novalue"),
])
async def test_send_usage_errors(server: Any, unique: str, args: tuple[str, ...]) -> None:
    result = await meshq(server, "queue", "send", "--room", unique, "--queue", "jobs", *args)
    assert result.exit_code == EXIT_USAGE, result.output


async def test_server_refusals_have_exit_codes(server: Any, unique: str) -> None:
    missing = await meshq(server, "queue", "receive", "--room", unique, "--queue", "nope",
                          "--no-wait")
    assert missing.exit_code == EXIT_NOT_FOUND and "NOT_FOUND" in missing.stderr
    bad_name = await meshq(server, "queue", "send", "--room", "bad room", "--queue", "q",
                           "--json", "1")
    assert bad_name.exit_code == EXIT_USAGE and "INVALID_ARGUMENT" in bad_name.stderr


async def test_open_close_drain_redrive_delete(server: Any, unique: str) -> None:
    opened = _json(await meshq(server, "queue", "open", "--room", unique, "--queue", "jobs",
                               "--max-deliveries", "2", "-o", "json"))
    assert (opened["max_deliveries"], opened["closed"]) == (2, False)
    assert (await meshq(server, "queue", "send", "--room", unique, "--queue", "jobs",
                        "--json", "[1]")).exit_code == 0
    assert (await meshq(server, "queue", "close", "--room", unique,
                        "--queue", "jobs")).exit_code == 0
    refused = await meshq(server, "queue", "send", "--room", unique, "--queue", "jobs",
                          "--json", "[2]")
    assert refused.exit_code == EXIT_REFUSED and "FAILED_PRECONDITION" in refused.stderr
    assert (await meshq(server, "queue", "open", "--room", unique,
                        "--queue", "jobs")).exit_code == 0
    assert _json(await meshq(server, "queue", "drain", "--room", unique, "--queue", "jobs",
                             "-o", "json")) == {"removed": 1}
    assert _json(await meshq(server, "queue", "redrive", "--room", unique, "--queue", "jobs",
                             "-o", "json")) == {"moved": 0}
    assert (await meshq(server, "queue", "delete", "--room", unique,
                        "--queue", "jobs")).exit_code == 0
    assert (await meshq(server, "rooms", "delete", unique, "--force")).exit_code == 0


async def test_unreachable_server(server: Any) -> None:
    result = await meshq(server, "rooms", "list", address="127.0.0.1:1")
    assert result.exit_code == EXIT_UNREACHABLE and "cannot reach" in result.stderr


@pytest.mark.parametrize("command", [
    ("rooms", "create"), ("rooms", "list"), ("rooms", "delete"), ("queue", "send"),
    ("room", "queue", "receive"), ("queue", "list"), ("queue", "drain"), ("queue", "open"),
    ("queue", "close"), ("queue", "peek"), ("queue", "redrive"),
])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "--server" in result.output
