"""Blocking filesystem steps of room storage; ``FileStorage`` runs each in a worker thread.

Every function takes the room's folder and normalised room-relative paths, checks
containment itself (``paths.contained``), and raises domain errors: every ``OSError`` is
mapped in ``fs_errors`` (what the caller can fix names the path; a full, read-only or failing
volume says so), which ``FileStorage`` also wraps around each call, so no filesystem
condition reaches a caller as INTERNAL.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from meshq.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MeshqError,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from meshq.core.files import PRIVATE_DIR
from meshq.core.validation import shown
from meshq.storage.paths import contained, relative_to_room

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileEntry:
    """A stored file or folder."""

    path: str
    """Relative to the room, "/"-separated."""
    size: int
    """Bytes (0 for a folder)."""
    modified_at_unix_ms: int
    """Last change, milliseconds since the Unix epoch."""
    is_dir: bool


# errno -> (domain error, message) for conditions of the server's disk, not of the request.
# Every other OSError is UNAVAILABLE too: no filesystem condition answers INTERNAL.
_VOLUME_ERRORS: dict[int, tuple[type[MeshqError], str]] = {
    errno.ENOSPC: (ResourceExhausted, "the server's storage volume is full"),
    errno.EDQUOT: (ResourceExhausted, "the server's storage quota is used up"),
    errno.EROFS: (Unavailable, "the server's storage volume is read-only"),
    errno.EACCES: (Unavailable, "the server may not access its storage folder (permissions)"),
    errno.EPERM: (Unavailable, "the server may not access its storage folder (permissions)"),
    errno.EIO: (Unavailable, "the server's storage volume reported an I/O error"),
}


@contextlib.contextmanager
def fs_errors(path: str, *, reading: bool = False) -> Iterator[None]:
    """Turn every OSError into a domain error: what the caller can fix names ``path``; a
    condition of the server's disk (full, read-only, I/O error) says so, and is logged.

    ``reading``: the call looks ``path`` up (stat, read, list, delete, a move's source), so a
    file where a folder should be means the path names nothing (NOT_FOUND, as ``exists``
    expects); for a write it is FAILED_PRECONDITION (the file is in the way).
    """
    name = shown(path)
    try:
        yield
    except FileNotFoundError:
        raise NotFound(f"{name} does not exist in this room") from None
    except FileExistsError:
        raise AlreadyExists(f"{name} exists already; pass overwrite to replace it") from None
    except NotADirectoryError:
        if reading:
            raise NotFound(f"{name} does not exist in this room (a part of it is a file)"
                           ) from None
        raise FailedPrecondition(f"a part of {name} is a file, not a folder") from None
    except IsADirectoryError:
        raise FailedPrecondition(f"{name} is a folder, not a file") from None
    except OSError as err:
        raise _domain_error(err, name) from None


def _domain_error(err: OSError, name: str) -> MeshqError:
    if err.errno == errno.ENOTEMPTY:
        return FailedPrecondition(f"folder {name} is not empty; pass recursive")
    if err.errno == errno.ELOOP:
        return FailedPrecondition(f"{name} is a symbolic link loop; delete the link")
    if err.errno == errno.ENAMETOOLONG:
        return InvalidArgument(f"{name} is too long for the filesystem")
    if err.errno == errno.EINVAL:
        return InvalidArgument(f"cannot move {name} there (into itself?)")
    kind, message = _VOLUME_ERRORS.get(
        err.errno or 0, (Unavailable, "the server's storage volume failed"))
    logger.error("storage: %s at %s: %s", message, name, err)
    return kind(f"{message} ({errno.errorcode.get(err.errno or 0, 'OSError')})")


def entry_of(rel: str, st: os.stat_result) -> FileEntry:
    is_dir = stat_mod.S_ISDIR(st.st_mode)
    return FileEntry(
        path=rel,
        size=0 if is_dir else st.st_size,
        modified_at_unix_ms=st.st_mtime_ns // 1_000_000,
        is_dir=is_dir,
    )


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parent_of(rel: str) -> str:
    return rel.rpartition("/")[0]


def make_parents(room_dir: Path, folder: Path) -> list[Path]:
    """Create ``folder`` (inside the room) and its missing parents, durably; the folders
    made, outermost first."""
    if folder.is_dir():
        return []
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and not probe.is_symlink():
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise FailedPrecondition(
            f"{shown(relative_to_room(room_dir, probe))} is a file, not a folder")
    made: list[Path] = []
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, PRIVATE_DIR)
            os.chmod(path, PRIVATE_DIR)  # whatever the umask
            made.append(path)
        fsync_dir(path.parent)
    return made


@contextlib.contextmanager
def parents_made(room_dir: Path, folder: Path) -> Iterator[None]:
    """``make_parents`` for a change that may still be refused: when the body raises, the
    folders made here are removed again (innermost first, if still empty), so a refused write
    or move leaves the room's tree as it was."""
    made = make_parents(room_dir, folder)
    try:
        yield
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise


def check_write_target(room_dir: Path, rel: str, overwrite: bool) -> None:
    """Refuse a write early (before any byte is streamed) when its commit would fail."""
    real = contained(room_dir, rel)
    if real.is_dir():
        raise FailedPrecondition(f"{shown(rel)} is a folder; a file cannot replace it")
    if not overwrite and real.exists():
        raise AlreadyExists(f"{shown(rel)} exists already; pass overwrite to replace it")
    probe = real.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise FailedPrecondition(
            f"{shown(relative_to_room(room_dir, probe))} is a file, not a folder")


def commit_write(tmp: BinaryIO, tmp_path: Path, room_dir: Path, rel: str,
                 overwrite: bool) -> FileEntry:
    """Make the temp file durable and put it in place atomically (no-clobber via link)."""
    tmp.flush()
    os.fsync(tmp.fileno())
    tmp.close()
    real = contained(room_dir, rel)  # again: the tree may have changed while streaming
    with fs_errors(rel), parents_made(room_dir, real.parent):
        if overwrite:
            os.replace(tmp_path, real)
        else:
            os.link(tmp_path, real)  # fails with EEXIST atomically if the file appeared
            os.unlink(tmp_path)
        fsync_dir(real.parent)
        return entry_of(rel, os.stat(real))


def open_for_read(room_dir: Path, rel: str, offset: int) -> BinaryIO:
    """An open file positioned at ``offset``; a later replace does not change what it reads."""
    real = contained(room_dir, rel)
    with fs_errors(rel, reading=True):
        handle = open(real, "rb")  # noqa: SIM115 - closed by the reader
    try:
        st = os.fstat(handle.fileno())
        if not stat_mod.S_ISREG(st.st_mode):
            raise FailedPrecondition(f"{shown(rel)} is a folder, not a file")
        if offset > st.st_size:
            raise InvalidArgument(
                f"offset {offset} is past the end of {shown(rel)} ({st.st_size} bytes)")
        handle.seek(offset)
    except BaseException:
        handle.close()
        raise
    return handle


def stat_entry(room_dir: Path, rel: str) -> FileEntry:
    if not rel:
        if not room_dir.exists():
            return FileEntry(path="", size=0, modified_at_unix_ms=0, is_dir=True)
    real = contained(room_dir, rel)
    with fs_errors(rel, reading=True):
        return entry_of(rel, os.stat(real))


def list_entries(room_dir: Path, rel: str, recursive: bool, limit: int) -> list[FileEntry]:
    """The entries in folder ``rel`` (or ``[rel]`` for a file), sorted by path.

    Symlinks that stay in the room are listed as what they point to but never descended
    (no loops); links that lead out, dangling links and special files are left out.
    """
    if not rel and not room_dir.exists():
        return []
    real = contained(room_dir, rel)
    with fs_errors(rel, reading=True):
        st = os.stat(real)
    if not stat_mod.S_ISDIR(st.st_mode):
        return [entry_of(rel, st)]
    with fs_errors(rel):
        return _walk(room_dir, real, rel, recursive, limit)


def _walk(room_dir: Path, real: Path, rel: str, recursive: bool, limit: int) -> list[FileEntry]:
    out: list[FileEntry] = []
    pending: list[tuple[Path, str]] = [(real, rel)]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as it:
            for item in it:
                child = f"{prefix}/{item.name}" if prefix else item.name
                found = _scan_one(room_dir, item, child)
                if found is None:
                    continue
                out.append(found)
                if len(out) > limit:
                    raise ResourceExhausted(
                        f"more than {limit} entries under {shown(rel or '/')}; "
                        "list a narrower folder or without recursive")
                if recursive and found.is_dir and not item.is_symlink():
                    pending.append((Path(item.path), child))
    out.sort(key=lambda e: e.path)
    return out


def _scan_one(room_dir: Path, item: os.DirEntry[str], child: str) -> FileEntry | None:
    try:
        if item.is_symlink():
            target = contained(room_dir, child)
            st = os.stat(target)
        else:
            st = item.stat(follow_symlinks=False)
    except InvalidArgument:
        logger.warning("storage: skipping %r: a symbolic link out of the room", child)
        return None
    except FileNotFoundError:
        return None  # dangling link, or removed while listing
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        logger.warning("storage: skipping %r: a symbolic link loop", child)
        return None
    if not (stat_mod.S_ISDIR(st.st_mode) or stat_mod.S_ISREG(st.st_mode)):
        return None
    return entry_of(child, st)


def delete_entry(room_dir: Path, rel: str, recursive: bool) -> None:
    """Remove a file, a symlink (not its target), or a folder (non-empty: only if recursive)."""
    contained(room_dir, rel)
    where = contained(room_dir, parent_of(rel)) / rel.rpartition("/")[2]
    with fs_errors(rel, reading=True):
        st = os.lstat(where)
    with fs_errors(rel):
        if stat_mod.S_ISDIR(st.st_mode):
            if recursive:
                shutil.rmtree(where)
            else:
                os.rmdir(where)
        else:
            os.unlink(where)
        fsync_dir(where.parent)


def move_entry(room_dir: Path, src: str, dst: str, overwrite: bool) -> FileEntry:
    """Rename ``src`` to ``dst`` within the room, creating ``dst``'s parents."""
    if dst == src or dst.startswith(src + "/"):
        raise InvalidArgument(f"cannot move {shown(src)} onto or into itself")
    contained(room_dir, src, field="source")
    contained(room_dir, dst, field="destination")
    source = contained(room_dir, parent_of(src), field="source") / src.rpartition("/")[2]
    with fs_errors(src, reading=True):
        src_stat = os.lstat(source)
    target_dir = contained(room_dir, parent_of(dst), field="destination")
    target = target_dir / dst.rpartition("/")[2]
    with fs_errors(dst), parents_made(room_dir, target_dir):
        if overwrite:
            os.replace(source, target)
        elif stat_mod.S_ISDIR(src_stat.st_mode):
            if os.path.lexists(target):  # no atomic no-clobber rename for folders in stdlib
                raise FileExistsError(target)
            os.rename(source, target)
        else:
            os.link(source, target, follow_symlinks=False)  # atomic no-clobber
            os.unlink(source)
        fsync_dir(target_dir)
        if source.parent != target_dir:
            fsync_dir(source.parent)
        return entry_of(dst, os.stat(contained(room_dir, dst, field="destination")))
