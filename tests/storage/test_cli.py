"""`meshq storage …` through click's CliRunner against the shared server.

The CLI runs its own event loop (``asyncio.run``), so each invocation runs in a worker thread
while the session loop keeps serving the server.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from meshq.api.storage import StorageClient
from meshq.cli.common import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE
from meshq.cli.storage import PROGRESS_MIN_BYTES, storage


async def meshq_storage(server: Any, room: str, *args: str, stdin: bytes | None = None) -> Result:
    argv = [*args, "--room", room, "--server", server.address, "--token", server.token]
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, storage, argv, input=stdin,
                                   catch_exceptions=False)


async def test_put_ls_stat_cat_mv_rm(server: Any, room: str, storage: StorageClient,
                                     tmp_path: Path) -> None:
    # Given a local file
    local = tmp_path / "poem.txt"
    local.write_text("roses are red\n")
    # When it is put, it lands in the room
    put = await meshq_storage(server, room, "put", str(local), "poems/poem.txt")
    assert put.exit_code == 0, put.output
    assert "stored poems/poem.txt (14 bytes)" in put.output
    assert await storage.read("poems/poem.txt") == b"roses are red\n"
    # Then ls, stat and cat show it
    listed = await meshq_storage(server, room, "ls", "--recursive", "-o", "json")
    assert [(e["path"], e["is_dir"]) for e in json.loads(listed.output)] == [
        ("poems", True), ("poems/poem.txt", False)]
    table = await meshq_storage(server, room, "ls", "poems")
    assert "poems/poem.txt" in table.output and "14" in table.output
    stat = await meshq_storage(server, room, "stat", "poems/poem.txt", "-o", "json")
    assert json.loads(stat.output)["size"] == 14
    cat = await meshq_storage(server, room, "cat", "poems/poem.txt")
    assert cat.stdout_bytes == b"roses are red\n"
    part = await meshq_storage(server, room, "cat", "poems/poem.txt", "--offset", "6",
                               "--length", "3")
    assert part.stdout_bytes == b"are"
    # And mv and rm change the room
    moved = await meshq_storage(server, room, "mv", "poems/poem.txt", "archive/poem.txt")
    assert moved.exit_code == 0 and await storage.exists("archive/poem.txt")
    removed = await meshq_storage(server, room, "rm", "archive", "--recursive")
    assert removed.exit_code == 0 and not await storage.exists("archive")


async def test_put_from_stdin_and_no_overwrite(server: Any, room: str,
                                                storage: StorageClient) -> None:
    first = await meshq_storage(server, room, "put", "-", "in.txt", stdin=b"from stdin")
    assert first.exit_code == 0 and await storage.read("in.txt") == b"from stdin"
    again = await meshq_storage(server, room, "put", "-", "in.txt", "--no-overwrite",
                                stdin=b"other")
    assert again.exit_code == EXIT_REFUSED
    assert "ALREADY_EXISTS" in again.output
    assert await storage.read("in.txt") == b"from stdin"


async def test_a_big_put_shows_progress_and_round_trips(server: Any, room: str,
                                                         storage: StorageClient,
                                                         tmp_path: Path) -> None:
    payload = os.urandom(PROGRESS_MIN_BYTES + 4321)
    local = tmp_path / "big.bin"
    local.write_bytes(payload)
    put = await meshq_storage(server, room, "put", str(local), "big.bin")
    assert put.exit_code == 0, put.output
    assert "put big.bin" in put.stderr  # the progress bar
    assert (await storage.stat("big.bin")).size == len(payload)
    cat = await meshq_storage(server, room, "cat", "big.bin")
    assert cat.stdout_bytes == payload


async def test_errors_are_one_line_with_exit_codes(server: Any, room: str,
                                                   storage: StorageClient) -> None:
    missing = await meshq_storage(server, room, "cat", "nope.txt")
    assert missing.exit_code == EXIT_NOT_FOUND
    assert missing.stderr.strip().startswith("error: NOT_FOUND:")
    assert len(missing.stderr.strip().splitlines()) == 1
    escaping = await meshq_storage(server, room, "ls", "../other")
    assert escaping.exit_code == EXIT_USAGE
    assert "INVALID_ARGUMENT" in escaping.stderr
    await storage.write("full/x.txt", b"x")
    not_empty = await meshq_storage(server, room, "rm", "full")
    assert not_empty.exit_code == EXIT_REFUSED and "not empty" in not_empty.stderr


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for name in ("ls", "cat", "put", "rm", "mv", "stat"):
        shown = runner.invoke(storage, [name, "--help"])
        assert shown.exit_code == 0 and "--room" in shown.output
