"""StorageToolkit against the real server: each tool through the SDK's room storage."""

from __future__ import annotations

from typing import Any

import pytest

from meshq.api.rooms import RoomClient
from meshq.tools import InvalidToolArguments, ToolContext, ToolError, validate_arguments
from meshq.tools.storage import GREP_MAX_FILE_BYTES, READ_LIMIT_BYTES, StorageToolkit

KIT = StorageToolkit()


async def call(context: ToolContext, name: str, **arguments: Any) -> Any:
    """What an adapter does: find the tool, validate, run."""
    tool = KIT.get(name)
    validate_arguments(tool, arguments)
    return await tool.execute(context, **arguments)


async def test_write_then_read_and_list(context: ToolContext, room: RoomClient) -> None:
    # When the model writes a poem
    said = await call(context, "write_file", path="poems/poem.txt", text="ai dreams in tokens\n")
    assert said == "wrote 20 bytes to poems/poem.txt"
    # Then it is in room storage, readable by the tool and by the SDK
    assert await room.storage.read("poems/poem.txt") == b"ai dreams in tokens\n"
    assert await call(context, "read_file", path="poems/poem.txt") == "ai dreams in tokens\n"
    listed = await call(context, "list_files", path="", recursive=True)
    assert listed == {"entries": [
        {"path": "poems", "size": 0, "is_dir": True},
        {"path": "poems/poem.txt", "size": 20, "is_dir": False}]}


async def test_no_overwrite_and_missing_files_reach_the_model_as_tool_errors(
        context: ToolContext) -> None:
    await call(context, "write_file", path="a.txt", text="1")
    with pytest.raises(ToolError, match="exists already"):
        await call(context, "write_file", path="a.txt", text="2", overwrite=False)
    with pytest.raises(ToolError, match="does not exist"):
        await call(context, "read_file", path="missing.txt")
    with pytest.raises(ToolError, match="leave the room"):
        await call(context, "read_file", path="../other-room/secret.txt")
    await call(context, "write_file", path="d/x.txt", text="x")
    with pytest.raises(ToolError, match="is a folder"):
        await call(context, "read_file", path="d")


async def test_long_reads_are_truncated_with_a_note_and_resume(context: ToolContext,
                                                               room: RoomClient) -> None:
    # Given a file longer than one read, with a multi-byte character across the cut
    text = "a" * (READ_LIMIT_BYTES - 1) + "é" + "tail"
    await room.storage.write("long.txt", text)
    # When the model reads it, it gets the first part and exactly how to read on
    first = await call(context, "read_file", path="long.txt")
    body, _, note = first.partition("\n\n[truncated: ")
    assert body == "a" * (READ_LIMIT_BYTES - 1)  # the split "é" waits for the next read
    end = READ_LIMIT_BYTES - 1
    size = len(text.encode())
    assert note == f"this is bytes 0-{end} of {size}; call read_file with offset={end} to read on]"
    # And following the note returns the rest, whole
    assert await call(context, "read_file", path="long.txt", offset=end) == "étail"
    short = await call(context, "read_file", path="long.txt", offset=2, length=3)
    assert short.startswith("aaa\n\n[truncated: this is bytes 2-5 of ")


async def test_binary_files_are_not_dumped(context: ToolContext, room: RoomClient) -> None:
    await room.storage.write("img.png", b"\x89PNG\x00\x00\x01")
    assert "binary file (7 bytes)" in await call(context, "read_file", path="img.png")


async def test_grep_finds_lines_and_stays_bounded(context: ToolContext, room: RoomClient) -> None:
    await room.storage.write("src/a.py", "x = 1\n# TODO: fix\nprint(x)\n")
    await room.storage.write("src/b.py", "# TODO one\n# todo two\n# FIXME three\n")
    await room.storage.write("src/blob.bin", b"TODO\x00binary")
    await room.storage.write("src/huge.txt", b"TODO\n" * (GREP_MAX_FILE_BYTES // 5 + 1))
    await room.storage.write("notes.txt", "TODO outside src\n")
    found = await call(context, "grep", pattern=r"TODO|FIXME", path="src")
    assert found["matches"] == [
        {"path": "src/a.py", "line": 2, "text": "# TODO: fix"},
        {"path": "src/b.py", "line": 1, "text": "# TODO one"},
        {"path": "src/b.py", "line": 3, "text": "# FIXME three"},
    ]
    assert found["files_skipped"] == 2 and found["files_searched"] == 3
    capped = await call(context, "grep", pattern="TODO", max_matches=2)
    assert len(capped["matches"]) == 2 and "max_matches=2" in capped["note"]
    with pytest.raises(ToolError, match="not a valid regular expression"):
        await call(context, "grep", pattern="(unclosed")


async def test_delete(context: ToolContext, room: RoomClient) -> None:
    await room.storage.write("tmp/x.txt", "x")
    assert await call(context, "delete_file", path="tmp/x.txt") == "deleted tmp/x.txt"
    assert not await room.storage.exists("tmp/x.txt")
    await room.storage.write("full/y.txt", "y")
    with pytest.raises(ToolError, match="not empty"):
        await call(context, "delete_file", path="full")


async def test_bad_arguments_are_refused_before_anything_runs(context: ToolContext,
                                                              room: RoomClient) -> None:
    with pytest.raises(InvalidToolArguments, match="'text' is a required property"):
        await call(context, "write_file", path="never.txt")
    with pytest.raises(InvalidToolArguments, match="max_matches: 0 is less than the minimum"):
        await call(context, "grep", pattern="x", max_matches=0)
    with pytest.raises(InvalidToolArguments, match="offset: -1 is less than the minimum"):
        await call(context, "read_file", path="x", offset=-1)
    assert not await room.storage.exists("never.txt")
