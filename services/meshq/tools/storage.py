"""``StorageToolkit``: list, read, write, grep and delete files in the job's room storage.

Every tool works through ``context.room.storage`` (the SDK's ``StorageClient``), so the
server's path rules apply: a path that escapes the room is refused, and the refusal reaches
the model as a ``ToolError`` it can read. Outputs are bounded (a read shows at most
``READ_LIMIT_BYTES`` with an explicit note on how to read on; a listing, ``LIST_LIMIT``
entries; grep, a budget of files, bytes and matches) so one call cannot flood the context.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import grpc

from meshq.tools.toolkit import Tool, ToolContext, ToolError, Toolkit

logger = logging.getLogger(__name__)

READ_LIMIT_BYTES = 50_000  # one read_file result; the note says how to read further
LIST_LIMIT = 500  # entries in one list_files result
GREP_MAX_FILES = 200  # files searched by one grep
GREP_MAX_FILE_BYTES = 1024 * 1024  # larger files are skipped by grep
GREP_MAX_TOTAL_BYTES = 16 * 1024 * 1024  # bytes read by one grep
GREP_MAX_PATTERN = 500  # characters
GREP_LINE_CHARS = 300  # a matching line is shown up to this
BINARY_SNIFF_BYTES = 8192  # a NUL in the first bytes means binary

# Statuses the model caused and can act on; anything else (server down, auth) is not its doing.
_MODEL_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
}

_PATH = {"type": "string", "description": "A path relative to the room, e.g. 'notes/todo.txt'."}


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """A refusal the model can act on becomes a ``ToolError`` carrying the server's reason."""
    try:
        yield
    except grpc.aio.AioRpcError as err:
        if err.code() in _MODEL_ERRORS:
            raise ToolError(err.details() or err.code().name) from None
        raise


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:BINARY_SNIFF_BYTES]


class ListFiles(Tool):
    name = "list_files"
    description = "List the files and folders in a folder of the room's storage."
    input_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "The folder; '' is the room's top."},
            "recursive": {"type": "boolean", "description": "Include everything below."},
        },
        "additionalProperties": False,
    }

    async def execute(self, context: ToolContext, *, path: str = "",
                      recursive: bool = False) -> Any:
        with storage_errors():
            entries = await context.room.storage.list(path, recursive=recursive)
        shown = [{"path": e.path, "size": e.size, "is_dir": e.is_dir} for e in entries[:LIST_LIMIT]]
        result: dict[str, Any] = {"entries": shown}
        if len(entries) > LIST_LIMIT:
            result["note"] = (f"showing {LIST_LIMIT} of {len(entries)} entries; "
                              "list a narrower folder to see the rest")
        return result


class ReadFile(Tool):
    name = "read_file"
    description = (f"Read a text file from the room's storage, from a byte offset. At most "
                   f"{READ_LIMIT_BYTES} bytes are returned at a time; a note says how to read on.")
    input_schema = {
        "type": "object",
        "properties": {
            "path": _PATH,
            "offset": {"type": "integer", "minimum": 0, "description": "Start at this byte."},
            "length": {"type": "integer", "minimum": 0,
                       "description": f"Bytes to read (0: up to {READ_LIMIT_BYTES})."},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    async def execute(self, context: ToolContext, *, path: str, offset: int = 0,
                      length: int = 0) -> Any:
        storage = context.room.storage
        with storage_errors():
            info = await storage.stat(path)
            if info.is_dir:
                raise ToolError(f"{path!r} is a folder; use list_files to see what is in it")
            want = min(length, READ_LIMIT_BYTES) if length > 0 else READ_LIMIT_BYTES
            data = await storage.read(path, offset=offset, length=want)
        if is_binary(data):
            return f"{path!r} is a binary file ({info.size} bytes); read_file shows text only"
        at_end = offset + len(data) >= info.size
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(data, final=at_end)
        end = offset + len(data) - len(decoder.getstate()[0])  # a split character waits
        if end >= info.size:
            return text
        return (f"{text}\n\n[truncated: this is bytes {offset}-{end} of {info.size}; "
                f"call read_file with offset={end} to read on]")


class WriteFile(Tool):
    name = "write_file"
    description = ("Write a text file (UTF-8) to the room's storage; folders are created. "
                   "An existing file is replaced unless overwrite is false.")
    input_schema = {
        "type": "object",
        "properties": {
            "path": _PATH,
            "text": {"type": "string", "description": "The whole content of the file."},
            "overwrite": {"type": "boolean", "description": "Replace an existing file."},
        },
        "required": ["path", "text"],
        "additionalProperties": False,
    }

    async def execute(self, context: ToolContext, *, path: str, text: str,
                      overwrite: bool = True) -> Any:
        with storage_errors():
            info = await context.room.storage.write(path, text, overwrite=overwrite)
        return f"wrote {info.size} bytes to {info.path}"


class DeleteFile(Tool):
    name = "delete_file"
    description = "Delete a file (or an empty folder) from the room's storage."
    input_schema = {
        "type": "object",
        "properties": {"path": _PATH},
        "required": ["path"],
        "additionalProperties": False,
    }

    async def execute(self, context: ToolContext, *, path: str) -> Any:
        with storage_errors():
            await context.room.storage.delete(path)
        return f"deleted {path}"


class Grep(Tool):
    name = "grep"
    description = ("Search the text files under a folder (or one file) of the room's storage "
                   "for lines matching a Python regular expression.")
    input_schema = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "minLength": 1, "maxLength": GREP_MAX_PATTERN,
                        "description": "A Python regular expression, e.g. 'TODO|FIXME'."},
            "path": {"type": "string", "description": "A folder or file; '' is the whole room."},
            "max_matches": {"type": "integer", "minimum": 1, "maximum": 500,
                            "description": "Stop after this many matching lines (default 50)."},
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    async def execute(self, context: ToolContext, *, pattern: str, path: str = "",
                      max_matches: int = 50) -> Any:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ToolError(f"pattern is not a valid regular expression: {err}") from None
        storage = context.room.storage
        with storage_errors():
            entries = [e for e in await storage.list(path, recursive=True) if not e.is_dir]
        search = _GrepRun(regex, max_matches)
        for entry in entries:
            if search.done:
                break
            if not search.admit(entry.size):
                continue
            with storage_errors():
                data = await storage.read(entry.path)
            await asyncio.to_thread(search.scan, entry.path, data)
        return search.result(len(entries))


class _GrepRun:
    """The budget and matches of one grep."""

    def __init__(self, regex: re.Pattern[str], max_matches: int) -> None:
        self.regex = regex
        self.max_matches = max_matches
        self.matches: list[dict[str, Any]] = []
        self.searched = 0
        self.skipped = 0
        self.bytes_read = 0
        self.stopped_early = False

    @property
    def done(self) -> bool:
        return len(self.matches) >= self.max_matches or self.stopped_early

    def admit(self, size: int) -> bool:
        if size > GREP_MAX_FILE_BYTES:
            self.skipped += 1
            return False
        if self.searched >= GREP_MAX_FILES or self.bytes_read + size > GREP_MAX_TOTAL_BYTES:
            self.stopped_early = True
            return False
        self.searched += 1
        self.bytes_read += size
        return True

    def scan(self, path: str, data: bytes) -> None:
        if is_binary(data):
            self.skipped += 1
            return
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if self.regex.search(line):
                self.matches.append({"path": path, "line": number, "text": line[:GREP_LINE_CHARS]})
                if len(self.matches) >= self.max_matches:
                    return

    def result(self, total_files: int) -> dict[str, Any]:
        result: dict[str, Any] = {"matches": self.matches, "files_searched": self.searched}
        if self.skipped:
            result["files_skipped"] = self.skipped
            result["skipped_why"] = f"binary, or larger than {GREP_MAX_FILE_BYTES} bytes"
        if len(self.matches) >= self.max_matches:
            result["note"] = f"stopped at max_matches={self.max_matches}; there may be more"
        elif self.stopped_early:
            result["note"] = (f"searched {self.searched} of {total_files} files (the search "
                              "budget); grep a narrower folder for the rest")
        return result


class StorageToolkit(Toolkit):
    """Files in the job's room: list, read, write, grep, delete."""

    def __init__(self) -> None:
        super().__init__(
            name="storage",
            title="storage",
            description="read and write files in the room's storage",
            tools=[ListFiles(), ReadFile(), WriteFile(), Grep(), DeleteFile()],
        )
