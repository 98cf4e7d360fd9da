"""The data dir before any store opens: private modes, and one server per store.

Two servers on one data dir would each open the same SQLite files and each believe it owns
them (a message sent to one is never seen by the other; both schedulers fire every task).
So each store has a lock file beside it, ``<data_dir>/<service>.lock``, held with an exclusive
``flock`` for as long as the server runs; the kernel drops it when the process ends, even on
SIGKILL, so a crash never leaves a stale lock. The file records the holder's PID and address
so that a second server can say who is in the way. A process locks only the stores of the
services it hosts: ``meshq serve queue`` and ``meshq serve scheduler`` may share a data dir;
two processes hosting the same service may not.

Every store file is created 0600 before its store opens it (SQLite gives its ``-wal`` and
``-shm`` files the mode of the database), and the data dir is 0700 (tightened with a warning
when it is looser).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from meshq.core.errors import FailedPrecondition
from meshq.core.files import PRIVATE_FILE, create_private_file, make_private_dir, tighten

logger = logging.getLogger(__name__)

# The files each service opens in the data dir (SQLite databases), by service name. The
# storage service keeps a folder, not a file: its lock alone guards it. The workers service
# keeps the pools' desired state (two of them on one data dir would both re-create them).
STORE_FILES: dict[str, tuple[str, ...]] = {
    "queue": ("queues.db",),
    "scheduler": ("scheduler.db",),
    "storage": (),
    "workers": ("pools.db",),
}
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass
class StoreLocks:
    """The lock files a server holds; ``release`` (idempotent) lets them go."""

    fds: list[int] = field(default_factory=list)

    def record(self, address: str, **where: str) -> None:
        """Write this process's PID and ``address`` into every lock file it holds (the
        address a client dials is known only once the port is bound), with ``where`` its
        other endpoints (``metrics``, ``studio`` URLs) for ``meshq status``."""
        for fd in self.fds:
            _write_holder(fd, address, where)

    def release(self) -> None:
        while self.fds:
            os.close(self.fds.pop())  # closing the last descriptor drops the flock


def lock_path(data_dir: Path, service: str) -> Path:
    return data_dir / f"{service}.lock"


def prepare_data_dir(data_dir: Path, services: Sequence[str], *, address: str) -> StoreLocks:
    """Make the data dir private, lock the stores of ``services``, create their files 0600.

    Raises ``FailedPrecondition`` (one line naming the holder's PID and address) when another
    process holds one of the locks; nothing is locked then.
    """
    make_private_dir(data_dir)
    locks = StoreLocks()
    try:
        for service in services:
            if service in STORE_FILES:
                locks.fds.append(_lock(data_dir, service, address))
        for service in services:
            for name in STORE_FILES.get(service, ()):
                _private_store_file(data_dir / name)
    except BaseException:
        locks.release()
        raise
    return locks


def _lock(data_dir: Path, service: str, address: str) -> int:
    path = lock_path(data_dir, service)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FailedPrecondition(_held_message(data_dir, service, _holder(fd))) from None
        _write_holder(fd, address)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_holder(fd: int, address: str, where: dict[str, str] | None = None) -> None:
    os.ftruncate(fd, 0)
    holder = {"pid": os.getpid(), "address": address, **(where or {})}
    os.pwrite(fd, json.dumps(holder).encode() + b"\n", 0)


def _holder(fd: int) -> dict[str, object]:
    try:
        found = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _held_message(data_dir: Path, service: str, holder: dict[str, object]) -> str:
    pid = holder.get("pid", "unknown")
    address = holder.get("address", "unknown")
    return (f"data dir {data_dir} is in use: its {service} store is held by meshq pid {pid} "
            f"at {address}; stop that server or use another --data-dir")


def _private_store_file(path: Path) -> None:
    create_private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            tighten(side, PRIVATE_FILE)
