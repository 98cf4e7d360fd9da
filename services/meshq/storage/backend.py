"""Room storage on the local filesystem: ``<data_dir>/storage/<room>/<path>``.

Writes are atomic: bytes stream into a temp file under ``<root>/.tmp`` (same filesystem,
outside every room), which is fsynced and then renamed into place, and the folder is fsynced.
A stream that fails or is cancelled leaves the old file untouched and its temp file removed;
temp files left by a crash are removed at ``start``. Readers hold the file they opened, so a
concurrent replace never shows them a mix of old and new bytes. Blocking I/O runs in worker
threads (``asyncio.to_thread``) so one slow disk call never stalls the event loop. Folders
are created 0700 and files 0600 (``meshq.core.files``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from pathlib import Path
from typing import BinaryIO

from meshq.core.errors import InvalidArgument, NotFound, ResourceExhausted
from meshq.core.files import make_private_dir, open_private_new
from meshq.core.validation import check_name, shown
from meshq.storage import disk
from meshq.storage.disk import FileEntry
from meshq.storage.paths import normalize

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024  # a file larger than this is refused mid-stream
READ_CHUNK_BYTES = 64 * 1024  # one ReadFile frame
WRITE_BUFFER_BYTES = 1024 * 1024  # incoming chunks are gathered to this before a disk write
MAX_LIST_ENTRIES = 100_000  # a listing past this is refused (the proto has no paging)
TMP_FOLDER = ".tmp"  # under the root; room names start with a letter or digit, never "."

__all__ = ["FileEntry", "FileStorage", "DEFAULT_MAX_FILE_BYTES"]


class FileStorage:
    """Files per room under ``root``; every path is normalised and confined to its room."""

    def __init__(
        self,
        root: Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        read_chunk_bytes: int = READ_CHUNK_BYTES,
        max_list_entries: int = MAX_LIST_ENTRIES,
    ) -> None:
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self.read_chunk_bytes = read_chunk_bytes
        self.max_list_entries = max_list_entries
        self._tmp = self.root / TMP_FOLDER

    async def start(self) -> None:
        """Create the root and drop temp files that a crash left behind."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        make_private_dir(self.root)
        if self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)
        make_private_dir(self._tmp)

    def room_dir(self, room: str) -> Path:
        return self.root / check_name("room", room)

    async def write(
        self, room: str, path: str, chunks: AsyncIterable[bytes], *, overwrite: bool = True
    ) -> FileEntry:
        """Store the bytes of ``chunks`` at ``path``, all or nothing."""
        room_dir = self.room_dir(room)
        rel = normalize(path)
        with disk.fs_errors(rel):
            # Refuse early what the commit would refuse. The room's folder is not made here:
            # the commit makes it with the file's other missing folders and removes them
            # again when it fails, so a write refused mid-stream leaves no empty room folder.
            await asyncio.to_thread(disk.check_write_target, room_dir, rel, overwrite)
            tmp_path = self._tmp / f"{uuid.uuid4().hex}.part"
            tmp = await asyncio.to_thread(self._open_temp, tmp_path)
        try:
            with disk.fs_errors(rel):
                await self._fill(tmp, chunks, rel)
                entry = await asyncio.to_thread(
                    disk.commit_write, tmp, tmp_path, room_dir, rel, overwrite)
        except BaseException:
            _close_quietly(tmp)  # closing flushes: on a full disk that fails again
            _remove_quietly(tmp_path)  # synchronous: must run even when cancelled
            raise
        logger.debug("storage: wrote %s/%s (%d bytes)", room, rel, entry.size)
        return entry

    def _open_temp(self, tmp_path: Path) -> BinaryIO:
        if not self._tmp.is_dir():
            make_private_dir(self._tmp)
        return os.fdopen(open_private_new(tmp_path), "wb")

    async def _fill(self, tmp: BinaryIO, chunks: AsyncIterable[bytes], rel: str) -> int:
        size = 0
        buffer = bytearray()
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_file_bytes:
                raise ResourceExhausted(
                    f"{shown(rel)} is larger than the file size limit of "
                    f"{self.max_file_bytes} bytes")
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER_BYTES:
                data = bytes(buffer)
                buffer.clear()
                await asyncio.to_thread(tmp.write, data)
        if buffer:
            await asyncio.to_thread(tmp.write, bytes(buffer))
        return size

    async def read(
        self, room: str, path: str, *, offset: int = 0, length: int = 0
    ) -> AsyncGenerator[bytes, None]:
        """The file's bytes from ``offset`` (at most ``length`` of them; 0: to the end)."""
        room_dir = self.room_dir(room)
        rel = normalize(path)
        if offset < 0 or length < 0:
            raise InvalidArgument("offset and length must be >= 0")
        with disk.fs_errors(rel):
            handle = await asyncio.to_thread(disk.open_for_read, room_dir, rel, offset)
        try:
            remaining = length if length > 0 else None
            while remaining is None or remaining > 0:
                want = self.read_chunk_bytes if remaining is None else min(
                    self.read_chunk_bytes, remaining)
                with disk.fs_errors(rel):
                    data = await asyncio.to_thread(handle.read, want)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            handle.close()

    async def list(self, room: str, path: str = "", *, recursive: bool = False) -> list[FileEntry]:
        """Entries of a folder (the room's root for ""), sorted by path."""
        room_dir = self.room_dir(room)
        rel = normalize(path, allow_root=True)
        with disk.fs_errors(rel):
            return await asyncio.to_thread(
                disk.list_entries, room_dir, rel, recursive, self.max_list_entries)

    async def stat(self, room: str, path: str) -> FileEntry:
        room_dir = self.room_dir(room)
        rel = normalize(path, allow_root=True)
        with disk.fs_errors(rel):
            return await asyncio.to_thread(disk.stat_entry, room_dir, rel)

    async def exists(self, room: str, path: str) -> bool:
        try:
            await self.stat(room, path)
        except NotFound:
            return False
        return True

    async def delete(self, room: str, path: str, *, recursive: bool = False) -> None:
        room_dir = self.room_dir(room)
        rel = normalize(path)
        with disk.fs_errors(rel):
            await asyncio.to_thread(disk.delete_entry, room_dir, rel, recursive)

    async def move(
        self, room: str, source: str, destination: str, *, overwrite: bool = False
    ) -> FileEntry:
        room_dir = self.room_dir(room)
        src = normalize(source, field="source")
        dst = normalize(destination, field="destination")
        with disk.fs_errors(dst):
            return await asyncio.to_thread(disk.move_entry, room_dir, src, dst, overwrite)


def _close_quietly(handle: BinaryIO) -> None:
    try:
        handle.close()
    except OSError:
        with contextlib.suppress(OSError):
            handle.close()  # the failed flush left it open: now it closes


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        logger.warning("storage: could not remove temp file %s", path, exc_info=True)
