"""What a user reaches for: whole ids, id prefixes, settling leases, `queue get`, empty
receives, `storage list`, the room rule, profiles. Against the session server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from cli.test_queue_cli import _json, meshq
from meshq.api.client import MeshqClient
from meshq.cli.common import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE
from meshq.cli.main import cli
from meshq.cli.output import plain_table, terminal_table


def _render(table: Any, width: int) -> str:
    console = Console(width=width, force_terminal=True, color_system=None, record=True)
    console.print(table)
    return console.export_text()


async def _task(server: Any, room: str, name: str) -> dict[str, Any]:
    added = await meshq(server, "scheduled-task", "add", "--room", room, "--queue",
                        "support-jobs-with-a-long-name", "--schedule", "30 17 * * *",
                        "--name", name, "--inactive", "-o", "json")
    return _json(added)  # type: ignore[no-any-return]


async def test_piped_task_list_prints_whole_ids_in_aligned_columns(server: Any,
                                                                   unique: str) -> None:
    # Given a task in a room whose queue name is long
    await meshq(server, "rooms", "create", "--name", unique)
    task = await _task(server, unique, "daily")
    # When `scheduled-task list` is piped (CliRunner's stdout is not a terminal)
    listed = await meshq(server, "scheduled-task", "list", "--room", unique)
    # Then the header and the row are plain columns with the whole id and names
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "ROOM", "QUEUE"]
    assert row.split()[:4] == [task["id"], "daily", unique, "support-jobs-with-a-long-name"]
    assert header.index("NAME") == row.index("daily")  # aligned
    # And -o wide adds columns
    wide = await meshq(server, "scheduled-task", "list", "--room", unique, "-o", "wide")
    assert "MISFIRE" in wide.stdout.splitlines()[0] and "MISFIRE" not in header


def test_a_terminal_table_wraps_or_drops_other_columns_never_ids() -> None:
    task_id = "60d84106a5b94c1f8e2b7a9d3c0e1f25"
    columns = ("id", "name", "room", "queue", "schedule", "timezone", "active", "next fire")
    row = [task_id, "daily-support-summary", "myroom", "support-jobs", "30 17 * * *",
           "Europe/Berlin", "yes", "2026-12-01T16:30:00.000+00:00"]
    for width in (80, 100, 140, 200):
        text = _render(terminal_table(columns, [row], width=width), width)
        assert task_id in text and "support-jobs" in text and "daily-support-summary" in text
        assert "…" not in text
        assert max(len(line) for line in text.splitlines()) <= width
    # 100 columns: the table keeps the ids and names whole and drops columns from the right
    table = _render(terminal_table(columns, [row], width=100), 100)
    assert "30 17 * * *" in table and "Europe/Berlin" not in table and "next fire" not in table
    # 200 columns: everything on one line
    wide = _render(terminal_table(columns, [row], width=200), 200)
    assert "2026-12-01T16:30:00.000+00:00" in wide
    # 80 columns (the ids and names alone do not fit a table row): one block per record
    narrow = _render(terminal_table(columns, [row], width=80), 80)
    assert f"ID         {task_id}" in narrow and "TIMEZONE   Europe/Berlin" in narrow


def test_a_cell_is_shown_as_it_is_not_as_markup() -> None:
    text = _render(terminal_table(("message id", "body"), [["m1", "[1]"], ["m2", "[bold]x"]],
                                  width=80), 80)
    assert "[1]" in text and "[bold]x" in text


def test_plain_table_cuts_nothing() -> None:
    long = "x" * 300
    text = plain_table(("id", "body"), [[long, "b"]])
    assert text.splitlines() == ["ID" + " " * 301 + "BODY", long + "   b"]


async def test_a_task_id_prefix_is_accepted_and_an_ambiguous_one_refused(
        server: Any, unique: str) -> None:
    await meshq(server, "rooms", "create", "--name", unique)
    task = await _task(server, unique, "one")
    prefix = task["id"][:8]
    # When update is given the 8-character prefix the README user copied
    updated = await meshq(server, "scheduled-task", "update", prefix, "--schedule",
                          "0 18 * * *", "-o", "json")
    # Then the task with that id is the one changed
    assert _json(updated)["id"] == task["id"] and _json(updated)["schedule"] == "0 18 * * *"
    got = await meshq(server, "scheduled-task", "get", prefix, "-o", "json")
    assert _json(got)["id"] == task["id"]
    # A prefix two tasks share is refused, listing both (17 ids share a first hex digit)
    async with MeshqClient(server=server.address, token=server.token) as client:
        ids = [t.id for t in await client.scheduler.list()]
        while not (common := _shared_first_digit(ids)):
            added = await client.scheduler.add(room=unique, queue="q", schedule="* * * * *",
                                               active=False)
            ids.append(added.id)
    ambiguous = await meshq(server, "scheduled-task", "get", common)
    assert ambiguous.exit_code == EXIT_USAGE and "ambiguous" in ambiguous.stderr
    assert sum(i in ambiguous.stderr for i in ids if i.startswith(common)) >= 2
    none = await meshq(server, "scheduled-task", "delete", "zzzz")
    assert none.exit_code == EXIT_NOT_FOUND
    deleted = await meshq(server, "scheduled-task", "delete", prefix)
    assert deleted.exit_code == 0 and task["id"] in deleted.stdout


def _shared_first_digit(ids: list[str]) -> str:
    return next((c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2), "")


async def test_received_leases_are_settled_by_ack_nack_extend(server: Any, unique: str) -> None:
    # Given three messages received with --no-ack
    sent = _json(await meshq(server, "queue", "send", "--room", unique, "--queue", "q",
                             "--create-room", "--json", "1", "-o", "json"))
    await meshq(server, "queue", "send", "--room", unique, "--queue", "q", "--json", "2")
    await meshq(server, "queue", "send", "--room", unique, "--queue", "q", "--json", "3")
    got = _json(await meshq(server, "queue", "receive", "--room", unique, "--queue", "q",
                            "--max", "3", "--no-ack", "--no-wait", "-o", "json"))
    tokens = {m["body"]: m["lease_token"] for m in got}
    # The table shows the lease tokens whole, and `queue get` says in_flight
    [first_id] = sent["message_ids"]
    state = _json(await meshq(server, "queue", "get", "--room", unique, "--queue", "q",
                              first_id, "-o", "json"))
    assert state == {"message_id": first_id, "state": "in_flight", "attempt": 1}
    # When one is acked, one extended, one nacked
    target = ("--room", unique, "--queue", "q")
    assert (await meshq(server, "queue", "ack", *target, tokens[1])).exit_code == 0
    extended = await meshq(server, "queue", "extend", *target, tokens[2], "--seconds", "120")
    assert extended.exit_code == 0 and "extended 1 of 1" in extended.stdout
    assert (await meshq(server, "queue", "nack", *target, tokens[3])).exit_code == 0
    # Then only the nacked one is ready again, and a stale token is refused, named
    again = _json(await meshq(server, "queue", "receive", *target, "--no-wait", "--max", "3",
                              "-o", "json"))
    assert [(m["body"], m["attempt"]) for m in again] == [(3, 2)]
    stale = await meshq(server, "queue", "ack", *target, tokens[1])
    assert stale.exit_code == EXIT_REFUSED and tokens[1] in stale.stderr
    gone = _json(await meshq(server, "queue", "get", *target, first_id, "-o", "json"))
    assert gone["state"] == "gone"


async def test_queue_get_takes_a_ready_message_id_prefix(server: Any, unique: str) -> None:
    target = ("--room", unique, "--queue", "q")
    [one] = _json(await meshq(server, "queue", "send", *target, "--create-room", "--json", "1",
                              "-o", "json"))["message_ids"]
    got = _json(await meshq(server, "queue", "get", *target, one[:-1], "-o", "json"))
    assert got == {"message_id": one, "state": "ready", "attempt": 0}
    [two] = _json(await meshq(server, "queue", "send", *target, "--json", "2",
                              "-o", "json"))["message_ids"]
    shared = next(i for i in range(len(one)) if one[i] != two[i])
    ambiguous = await meshq(server, "queue", "get", *target, one[:shared])
    assert ambiguous.exit_code == EXIT_USAGE and one in ambiguous.stderr and two in ambiguous.stderr


async def test_an_empty_receive_says_so(server: Any, unique: str) -> None:
    await meshq(server, "queue", "open", "--room", unique, "--queue", "q")
    empty = await meshq(server, "queue", "receive", "--room", unique, "--queue", "q",
                        "--no-wait")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert f"no message in {unique}/q" in empty.stderr


async def test_send_refuses_an_unknown_room_like_scheduled_task_add(server: Any,
                                                                    unique: str) -> None:
    typo = await meshq(server, "queue", "send", "--room", unique, "--queue", "q", "--json", "1")
    assert typo.exit_code == EXIT_NOT_FOUND and "--create-room" in typo.stderr
    scheduled = await meshq(server, "scheduled-task", "add", "--room", unique, "--queue", "q",
                            "--schedule", "* * * * *")
    assert scheduled.exit_code == EXIT_NOT_FOUND
    rooms = _json(await meshq(server, "rooms", "list", "-o", "json"))
    assert unique not in [r["name"] for r in rooms]  # nothing was created
    # A missing queue in an existing room is created by the send
    await meshq(server, "rooms", "create", "--name", unique)
    assert (await meshq(server, "queue", "send", "--room", unique, "--queue", "new",
                        "--json", "1")).exit_code == 0


async def test_storage_list_and_a_missing_room(server: Any, unique: str) -> None:
    await meshq(server, "rooms", "create", "--name", unique)
    assert _json(await meshq(server, "storage", "list", "--room", unique, "-o", "json")) == []
    assert _json(await meshq(server, "storage", "ls", "--room", unique, "-o", "json")) == []
    missing = await meshq(server, "storage", "cat", "poem.txt", "--room", unique + "-typo")
    assert missing.exit_code == EXIT_NOT_FOUND
    assert f"room '{unique}-typo' does not exist" in missing.stderr
    file_missing = await meshq(server, "storage", "cat", "poem.txt", "--room", unique)
    assert file_missing.exit_code == EXIT_NOT_FOUND and "does not exist: create" not in file_missing.stderr


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("MESHQ_CONFIG", str(path))
    for name in ("MESHQ_SERVER", "MESHQ_TOKEN", "MESHQ_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return path


async def test_a_profile_names_server_and_token(server: Any, unique: str, config: Path,
                                                tmp_path: Path) -> None:
    import asyncio

    token_file = tmp_path / "t.token"
    token_file.write_text(server.token + "\n")
    config.write_text(f'[profiles.here]\nserver = "{server.address}"\n'
                      f'token_file = "{token_file}"\n'
                      '[profiles.nowhere]\nserver = "127.0.0.1:1"\n')

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    made = await asyncio.to_thread(invoke, "rooms", "create", "--name", unique,
                                   "--profile", "here", "-o", "json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["name"] == unique
    away = await asyncio.to_thread(invoke, "rooms", "list", "--profile", "nowhere",
                                   "--timeout", "2")
    assert away.exit_code == 3 and "127.0.0.1:1" in away.stderr
    # The root command takes it too
    root = await asyncio.to_thread(invoke, "--profile", "here", "rooms", "list", "-o", "json")
    assert root.exit_code == 0 and unique in [r["name"] for r in json.loads(root.stdout)]
    # A flag beats the profile
    flag = await asyncio.to_thread(invoke, "rooms", "list", "--profile", "nowhere",
                                   "--server", server.address, "--token", server.token)
    assert flag.exit_code == 0, flag.output
    listed = await asyncio.to_thread(invoke, "profile", "list", "-o", "json")
    assert [(p["name"], p["token"]) for p in json.loads(listed.stdout)["profiles"]] == [
        ("here", True), ("nowhere", False)]
    assert server.token not in listed.stdout  # tokens are never shown
    unknown = await asyncio.to_thread(invoke, "rooms", "list", "--profile", "prod")
    assert unknown.exit_code == EXIT_USAGE
    assert "no profile 'prod'" in unknown.stderr and "here, nowhere" in unknown.stderr
