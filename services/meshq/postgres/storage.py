"""Room storage in PostgreSQL: the same calls, limits and path rules as ``FileStorage``.

A file is a row of ``st_files`` pointing at a blob; a blob's bytes are ``st_chunks`` rows of
up to ``CHUNK_BYTES``. A write streams into a new blob (state ``writing``), one short
transaction per chunk, so no transaction stays open while a client uploads; the last
transaction checks the target again, creates missing parent folders and points the file at
the new blob, atomically. The blob it replaced turns ``dead`` and stays readable for
``DEAD_BLOB_SECONDS``, so a reader that started before the replace reads one whole version,
never a mix. Blobs left ``writing`` by a crashed replica and ``dead`` ones past their grace
are removed by ``collect`` (at start and after writes, by whichever replica gets there).

Folders are rows of ``st_folders``: created as parents of a write or a move, kept when
emptied, removed by a delete, as on disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable

import asyncpg

from meshq.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from meshq.core.validation import check_name, shown
from meshq.postgres.pool import Database
from meshq.storage.backend import DEFAULT_MAX_FILE_BYTES, MAX_LIST_ENTRIES, READ_CHUNK_BYTES
from meshq.storage.disk import FileEntry
from meshq.storage.paths import normalize

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024  # bytes per st_chunks row
DEAD_BLOB_SECONDS = 600.0  # a replaced file's bytes stay readable this long (running reads)
ABANDONED_BLOB_SECONDS = 3600.0  # a blob still "writing" after this was left by a crash
COLLECT_EVERY = 64  # writes between two collections on one replica


def _ms() -> int:
    return int(time.time() * 1000)


def _parents(rel: str) -> list[str]:
    """The folders above ``rel``, outermost first ("a/b/c" -> ["a", "a/b"])."""
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


class PgFileStorage:
    """Files per room in PostgreSQL; paths are normalised exactly as on disk."""

    def __init__(self, db: Database, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 read_chunk_bytes: int = READ_CHUNK_BYTES,
                 max_list_entries: int = MAX_LIST_ENTRIES) -> None:
        self._db = db
        self.max_file_bytes = max_file_bytes
        self.read_chunk_bytes = read_chunk_bytes
        self.max_list_entries = max_list_entries
        self._writes = 0

    async def start(self) -> None:
        """Remove what crashed writers and old replacements left behind."""
        await self.collect()

    async def collect(self) -> int:
        """Delete abandoned and expired blobs; the number removed."""
        now = time.time()
        async with self._db.conn() as conn:
            removed = await conn.fetch(
                "DELETE FROM st_blobs WHERE (state = 'dead' AND changed_at < $1) "
                "OR (state = 'writing' AND changed_at < $2) RETURNING id",
                now - DEAD_BLOB_SECONDS, now - ABANDONED_BLOB_SECONDS)
        if removed:
            logger.info("storage: removed %d old blobs", len(removed))
        return len(removed)

    # -- writes -------------------------------------------------------------------------

    async def write(self, room: str, path: str, chunks: AsyncIterable[bytes], *,
                    overwrite: bool = True) -> FileEntry:
        """Store the bytes of ``chunks`` at ``path``, all or nothing."""
        check_name("room", room)
        rel = normalize(path)
        async with self._db.conn() as conn:
            await _check_target(conn, room, rel, overwrite)
            blob = await conn.fetchval(
                "INSERT INTO st_blobs (state, changed_at) VALUES ('writing', $1) RETURNING id",
                time.time())
        try:
            size = await self._fill(blob, chunks, rel)
            entry = await self._commit(room, rel, blob, size, overwrite)
        except BaseException:
            await self._drop_blob(blob)
            raise
        self._writes += 1
        if self._writes % COLLECT_EVERY == 0:
            await self.collect()
        return entry

    async def _fill(self, blob: int, chunks: AsyncIterable[bytes], rel: str) -> int:
        size, n = 0, 0
        buffer = bytearray()
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_file_bytes:
                raise ResourceExhausted(f"{shown(rel)} is larger than the file size limit of "
                                        f"{self.max_file_bytes} bytes")
            buffer += chunk
            while len(buffer) >= CHUNK_BYTES:
                await self._put_chunk(blob, n, size - len(buffer), bytes(buffer[:CHUNK_BYTES]))
                del buffer[:CHUNK_BYTES]
                n += 1
        if buffer:
            await self._put_chunk(blob, n, size - len(buffer), bytes(buffer))
        return size

    async def _put_chunk(self, blob: int, n: int, start: int, data: bytes) -> None:
        async with self._db.conn() as conn:
            await conn.execute("INSERT INTO st_chunks (blob_id, n, start_offset, data) "
                               "VALUES ($1, $2, $3, $4)", blob, n, start, data)

    async def _commit(self, room: str, rel: str, blob: int, size: int,
                      overwrite: bool) -> FileEntry:
        now_ms = _ms()
        async with self._db.tx() as conn:
            await _lock_room(conn, room)
            await _check_target(conn, room, rel, overwrite)
            await _make_folders(conn, room, _parents(rel), now_ms)
            old = await conn.fetchval(
                "SELECT blob_id FROM st_files WHERE room=$1 AND path=$2", room, rel)
            await conn.execute(
                "INSERT INTO st_files (room, path, blob_id, size, modified_ms) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room, path) DO UPDATE SET "
                "blob_id=EXCLUDED.blob_id, size=EXCLUDED.size, modified_ms=EXCLUDED.modified_ms",
                room, rel, blob, size, now_ms)
            await conn.execute("UPDATE st_blobs SET state='live', changed_at=$2 WHERE id=$1",
                               blob, time.time())
            if old is not None:
                await _kill_blobs(conn, [old])
        return FileEntry(path=rel, size=size, modified_at_unix_ms=now_ms, is_dir=False)

    async def _drop_blob(self, blob: int) -> None:
        """Remove a blob whose write failed (best effort: ``collect`` gets it otherwise)."""
        try:
            async with self._db.conn() as conn:
                await conn.execute("DELETE FROM st_blobs WHERE id=$1 AND state='writing'", blob)
        except Exception:
            logger.warning("storage: could not remove blob %d of a failed write", blob)

    # -- reads --------------------------------------------------------------------------

    async def read(self, room: str, path: str, *, offset: int = 0,
                   length: int = 0) -> AsyncGenerator[bytes, None]:
        """The file's bytes from ``offset`` (at most ``length`` of them; 0: to the end)."""
        check_name("room", room)
        rel = normalize(path)
        if offset < 0 or length < 0:
            raise InvalidArgument("offset and length must be >= 0")
        async with self._db.conn() as conn:
            row = await conn.fetchrow(
                "SELECT blob_id, size FROM st_files WHERE room=$1 AND path=$2", room, rel)
            if row is None:
                await _missing_file(conn, room, rel)
        blob, size = row["blob_id"], row["size"]
        if offset > size:
            raise InvalidArgument(f"offset {offset} is past the end of {shown(rel)} "
                                  f"({size} bytes)")
        end = size if length == 0 else min(size, offset + length)
        pos = offset
        while pos < end:
            async with self._db.conn() as conn:
                chunk = await conn.fetchrow(
                    "SELECT start_offset, data FROM st_chunks WHERE blob_id=$1 AND "
                    "start_offset <= $2 ORDER BY start_offset DESC LIMIT 1", blob, pos)
            if chunk is None:
                raise NotFound(f"{shown(rel)} was replaced long ago while being read; read "
                               "it again")
            data: bytes = chunk["data"]
            start = pos - chunk["start_offset"]
            stop = min(len(data), end - chunk["start_offset"])
            for i in range(start, stop, self.read_chunk_bytes):
                yield data[i:min(i + self.read_chunk_bytes, stop)]
            pos = chunk["start_offset"] + stop

    async def list(self, room: str, path: str = "", *,
                   recursive: bool = False) -> list[FileEntry]:
        """Entries of a folder (the room's root for ""), sorted by path."""
        check_name("room", room)
        rel = normalize(path, allow_root=True)
        async with self._db.conn() as conn:
            if rel:
                kind = await _kind(conn, room, rel)
                if kind is None:
                    raise NotFound(f"{shown(rel)} does not exist in this room")
                if not kind.is_dir:
                    return [kind]
            prefix = f"{rel}/" if rel else ""
            depth = "AND ($5 OR strpos(substr(path, $3), '/') = 0)"
            rows = await conn.fetch(
                f"SELECT path, size, modified_ms, false AS is_dir FROM st_files WHERE room=$1 "
                f"AND starts_with(path, $2) {depth} UNION ALL SELECT path, 0, modified_ms, true "
                f"FROM st_folders WHERE room=$1 AND starts_with(path, $2) {depth} "
                f"ORDER BY path LIMIT $4", room, prefix, len(prefix) + 1,
                self.max_list_entries + 1, recursive)
        if len(rows) > self.max_list_entries:
            raise ResourceExhausted(f"more than {self.max_list_entries} entries under "
                                    f"{shown(rel or '/')}; list a narrower folder or without "
                                    "recursive")
        return [FileEntry(path=r["path"], size=r["size"], modified_at_unix_ms=r["modified_ms"],
                          is_dir=r["is_dir"]) for r in rows]

    async def stat(self, room: str, path: str) -> FileEntry:
        check_name("room", room)
        rel = normalize(path, allow_root=True)
        if not rel:
            return FileEntry(path="", size=0, modified_at_unix_ms=0, is_dir=True)
        async with self._db.conn() as conn:
            kind = await _kind(conn, room, rel)
        if kind is None:
            raise NotFound(f"{shown(rel)} does not exist in this room")
        return kind

    async def exists(self, room: str, path: str) -> bool:
        try:
            await self.stat(room, path)
        except NotFound:
            return False
        return True

    # -- changes ------------------------------------------------------------------------

    async def delete(self, room: str, path: str, *, recursive: bool = False) -> None:
        check_name("room", room)
        rel = normalize(path)
        async with self._db.tx() as conn:
            await _lock_room(conn, room)
            kind = await _kind(conn, room, rel)
            if kind is None:
                raise NotFound(f"{shown(rel)} does not exist in this room")
            if not kind.is_dir:
                blob = await conn.fetchval("DELETE FROM st_files WHERE room=$1 AND path=$2 "
                                           "RETURNING blob_id", room, rel)
                await _kill_blobs(conn, [blob])
                return
            under = f"{rel}/"
            if not recursive and await _has_children(conn, room, under):
                raise FailedPrecondition(f"folder {shown(rel)} is not empty; pass recursive")
            blobs = await conn.fetch("DELETE FROM st_files WHERE room=$1 AND "
                                     "starts_with(path, $2) RETURNING blob_id", room, under)
            await _kill_blobs(conn, [b["blob_id"] for b in blobs])
            await conn.execute("DELETE FROM st_folders WHERE room=$1 AND (path=$2 OR "
                               "starts_with(path, $3))", room, rel, under)

    async def move(self, room: str, source: str, destination: str, *,
                   overwrite: bool = False) -> FileEntry:
        check_name("room", room)
        src = normalize(source, field="source")
        dst = normalize(destination, field="destination")
        if dst == src or dst.startswith(src + "/"):
            raise InvalidArgument(f"cannot move {shown(src)} onto or into itself")
        async with self._db.tx() as conn:
            await _lock_room(conn, room)
            kind = await _kind(conn, room, src)
            if kind is None:
                raise NotFound(f"{shown(src)} does not exist in this room")
            target = await _kind(conn, room, dst)
            await _check_move_target(conn, room, kind, target, dst, overwrite)
            await _check_parents(conn, room, dst)
            now_ms = _ms()
            await _make_folders(conn, room, _parents(dst), now_ms)
            if kind.is_dir:
                await _move_folder(conn, room, src, dst, now_ms)
            else:
                await conn.execute("UPDATE st_files SET path=$3 WHERE room=$1 AND path=$2",
                                   room, src, dst)
            moved = await _kind(conn, room, dst)
        assert moved is not None
        return moved


# -- SQL helpers (each runs inside the caller's connection / transaction) -----------------

async def _lock_room(conn: asyncpg.Connection, room: str) -> None:
    """Serialise the tree changes of one room (writes' commits, deletes, moves)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('meshq-storage:' || $1, 0))",
                       room)


async def _kind(conn: asyncpg.Connection, room: str, rel: str) -> FileEntry | None:
    row = await conn.fetchrow(
        "SELECT path, size, modified_ms, false AS is_dir FROM st_files WHERE room=$1 AND path=$2 "
        "UNION ALL SELECT path, 0, modified_ms, true FROM st_folders WHERE room=$1 AND path=$2 "
        "LIMIT 1", room, rel)
    if row is None:
        return None
    return FileEntry(path=row["path"], size=row["size"], modified_at_unix_ms=row["modified_ms"],
                     is_dir=row["is_dir"])


async def _has_children(conn: asyncpg.Connection, room: str, under: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM st_files WHERE room=$1 AND starts_with(path, $2)) OR "
        "EXISTS (SELECT 1 FROM st_folders WHERE room=$1 AND starts_with(path, $2))",
        room, under))


async def _check_parents(conn: asyncpg.Connection, room: str, rel: str) -> None:
    """Refuse a path under a file ("a.txt/b")."""
    parents = _parents(rel)
    if not parents:
        return
    blocker = await conn.fetchval(
        "SELECT path FROM st_files WHERE room=$1 AND path = ANY($2::text[]) ORDER BY path "
        "LIMIT 1", room, parents)
    if blocker is not None:
        raise FailedPrecondition(f"{shown(blocker)} is a file, not a folder")


async def _check_target(conn: asyncpg.Connection, room: str, rel: str, overwrite: bool) -> None:
    """Refuse a write whose commit would fail (before streaming, and again at commit)."""
    kind = await _kind(conn, room, rel)
    if kind is not None and kind.is_dir:
        raise FailedPrecondition(f"{shown(rel)} is a folder; a file cannot replace it")
    if kind is not None and not overwrite:
        raise AlreadyExists(f"{shown(rel)} exists already; pass overwrite to replace it")
    await _check_parents(conn, room, rel)


async def _check_move_target(conn: asyncpg.Connection, room: str, kind: FileEntry,
                             target: FileEntry | None, dst: str, overwrite: bool) -> None:
    if target is None:
        return
    if not overwrite:
        raise AlreadyExists(f"{shown(dst)} exists already; pass overwrite to replace it")
    if target.is_dir and not kind.is_dir:
        raise FailedPrecondition(f"{shown(dst)} is a folder, not a file")
    if kind.is_dir and not target.is_dir:
        raise FailedPrecondition(f"a part of {shown(dst)} is a file, not a folder")
    if target.is_dir:
        if await _has_children(conn, room, f"{dst}/"):
            raise FailedPrecondition(f"folder {shown(dst)} is not empty; pass recursive")
        await conn.execute("DELETE FROM st_folders WHERE room=$1 AND path=$2", room, dst)
    else:
        blob = await conn.fetchval("DELETE FROM st_files WHERE room=$1 AND path=$2 "
                                   "RETURNING blob_id", room, dst)
        await _kill_blobs(conn, [blob])


async def _make_folders(conn: asyncpg.Connection, room: str, folders: list[str],
                        now_ms: int) -> None:
    if folders:
        await conn.execute(
            "INSERT INTO st_folders (room, path, modified_ms) SELECT $1, p, $3 FROM "
            "unnest($2::text[]) AS p ON CONFLICT DO NOTHING", room, folders, now_ms)


async def _move_folder(conn: asyncpg.Connection, room: str, src: str, dst: str,
                       now_ms: int) -> None:
    cut = len(src) + 1
    for table in ("st_files", "st_folders"):
        await conn.execute(
            f"UPDATE {table} SET path = $3 || substr(path, $4) WHERE room=$1 AND "
            f"(path=$2 OR starts_with(path, $2 || '/'))", room, src, dst, cut)
    await conn.execute("UPDATE st_folders SET modified_ms=$3 WHERE room=$1 AND path=$2",
                       room, dst, now_ms)


async def _kill_blobs(conn: asyncpg.Connection, blobs: list[int]) -> None:
    if blobs:
        await conn.execute("UPDATE st_blobs SET state='dead', changed_at=$2 WHERE id = ANY($1)",
                           blobs, time.time())


async def _missing_file(conn: asyncpg.Connection, room: str, rel: str) -> None:
    """Raise the right error for a read of something that is not a file."""
    if await conn.fetchval("SELECT true FROM st_folders WHERE room=$1 AND path=$2", room, rel):
        raise FailedPrecondition(f"{shown(rel)} is a folder, not a file")
    raise NotFound(f"{shown(rel)} does not exist in this room")

