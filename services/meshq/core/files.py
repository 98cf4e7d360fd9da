"""Private files and folders: what meshq creates on disk is readable by its owner alone.

Folders are 0700 and files 0600 whatever the process's umask: each is created with that mode
and then set to it explicitly (``os.mkdir(path, 0o700)`` alone gives less under umask 077
and nothing more, but a later ``chmod`` is the only way to be sure). An existing folder or
file that others can read is tightened, with a warning naming it and its old mode; a shared
folder (sticky, like ``/tmp``) or another user's open one is refused instead.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from meshq.core.errors import FailedPrecondition

logger = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = 0o077  # group and other bits: none of them may be set


def make_private_dir(path: Path | str) -> Path:
    """Create ``path`` and every missing parent 0700; tighten ``path`` itself if it exists
    with group or other bits (parents that existed already are left as they are)."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:
            continue  # made by another process meanwhile: theirs to set
        os.chmod(folder, PRIVATE_DIR)
    if not missing:
        _check_own_folder(path)
        tighten(path, PRIVATE_DIR)
    return path


def _check_own_folder(path: Path) -> None:
    """Refuse to take over a shared folder (``/tmp``) or another user's: tightening either
    would lock others out of what is theirs."""
    st = os.stat(path)
    if st.st_mode & stat.S_ISVTX:
        raise FailedPrecondition(
            f"{path} is a shared folder (mode {stat.S_IMODE(st.st_mode):o}); give meshq a "
            f"folder of its own, e.g. {path / 'meshq'}")
    if st.st_uid != os.geteuid() and stat.S_IMODE(st.st_mode) & _OTHERS:
        raise FailedPrecondition(
            f"{path} belongs to another user (uid {st.st_uid}) and is open to others; give "
            "meshq a folder of its own")


def tighten(path: Path | str, mode: int) -> bool:
    """Set ``mode`` on ``path`` if group or others have any access; True if it changed."""
    current = stat.S_IMODE(os.stat(path).st_mode)
    if not current & _OTHERS:
        return False
    logger.warning("%s was open to other users (mode %o); setting %o", path, current, mode)
    os.chmod(path, mode)
    return True


def create_private_file(path: Path | str) -> None:
    """Make ``path`` exist as a 0600 file (empty if new); tighten it if it exists looser."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & _OTHERS:  # O_CREAT's mode only removes bits: this file existed already
            logger.warning("%s was open to other users (mode %o); setting 600", path, mode)
        if mode != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def open_private_new(path: Path | str) -> int:
    """A new file at ``path`` opened for writing, 0600; ``FileExistsError`` if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd
