"""Room-relative paths: one normal form, and containment checks at access time.

A stored path is "/"-separated, relative to the room, with no empty, "." or ".." segments.
``normalize`` turns what a caller sent into that form or refuses it with ``InvalidArgument``:

- absolute paths ("/etc/passwd"), backslashes, NUL and other control characters are refused;
- "." segments are dropped and ".." is resolved lexically ("a/../b" is "b"); a ".." that
  would climb above the room ("../x", "a/../../b") is refused;
- empty segments ("a//b") are refused; one trailing "/" is accepted ("docs/" is "docs");
- percent-encoding means nothing here: "%2e%2e" is a file or folder literally named "%2e%2e";
- a segment is at most 255 bytes of UTF-8 and a path at most 1024 (filesystem limits).

Symlinks can only be made by someone with access to the server's disk, but one that leads out
of the room must not become a way out: ``contained`` resolves a path on disk and refuses it
unless it stays inside the room's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown

MAX_SEGMENT_BYTES = 255  # NAME_MAX on Linux filesystems
MAX_PATH_BYTES = 1024  # well under PATH_MAX once joined to the data dir


def _fail(field: str, value: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"{field} {shown(value)} is invalid: {problem}")


def _check_characters(field: str, value: str) -> None:
    if "\x00" in value:
        raise _fail(field, value, "it contains a NUL character")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _fail(field, value, "it contains a control character")
    if "\\" in value:
        raise _fail(field, value, "use '/' to separate folders, not '\\'")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _fail(field, value, "it is not valid UTF-8") from None
    if size > MAX_PATH_BYTES:
        raise _fail(field, value, f"it is {size} bytes long; the limit is {MAX_PATH_BYTES}")


def normalize(path: str, *, field: str = "path", allow_root: bool = False) -> str:
    """The normal form of a room-relative path ("" is the room itself, if allow_root)."""
    _check_characters(field, path)
    if path.startswith("/"):
        raise _fail(field, path, "it must be relative to the room, not start with '/'")
    body = path[:-1] if path.endswith("/") else path
    parts: list[str] = []
    for segment in body.split("/") if body else []:
        if segment == "":
            raise _fail(field, path, "it has an empty segment ('//')")
        if segment == ".":
            continue
        if segment == "..":
            if not parts:
                raise _fail(field, path, "'..' would leave the room")
            parts.pop()
            continue
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise _fail(field, path, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
        parts.append(segment)
    normal = "/".join(parts)
    if not normal and not allow_root:
        raise InvalidArgument(f"{field} is required: name a file or folder in the room")
    return normal


def contained(room_dir: Path, relative: str, *, field: str = "path") -> Path:
    """The real on-disk path of ``relative``, refused unless it stays inside ``room_dir``.

    Resolution follows every symlink that exists (a missing tail is kept as written), so a
    link anywhere along the path that points out of the room is caught here.
    """
    base = os.path.realpath(room_dir)
    real = os.path.realpath(os.path.join(base, relative)) if relative else base
    if real != base and not real.startswith(base + os.sep):
        raise _fail(field, relative, "it leads out of the room through a symbolic link")
    return Path(real)


def relative_to_room(room_dir: Path, absolute: Path) -> str:
    """The "/"-separated path of ``absolute`` inside ``room_dir`` (both already real)."""
    rel = os.path.relpath(absolute, os.path.realpath(room_dir))
    return "" if rel == "." else rel.replace(os.sep, "/")
