"""A throwaway PostgreSQL cluster, started from the installed binaries (tests, benchmarks).

``PgCluster`` runs ``initdb`` into a temp dir and ``pg_ctl start`` on a free loopback port with
its unix socket in that dir and ``fsync`` on (the durability the tests rely on is the real
one). It never touches the system's PostgreSQL service. As root (CI), the server runs as the
``postgres`` user, since PostgreSQL refuses to run as root.

The binaries are looked up on PATH, in /usr/local/bin and in /usr/lib/postgresql/NN/bin
(Debian's layout, newest first); ``find_bin`` returns None when PostgreSQL is not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SEARCH = ("/usr/local/bin", "/usr/lib/postgresql/*/bin")
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections


def find_bin(name: str) -> Path | None:
    """The path of a PostgreSQL binary (initdb, pg_ctl), or None."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for pattern in SEARCH:
        for folder in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            if (folder / name).exists():
                return folder / name
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One initdb'd cluster in a temp dir; ``start`` / ``stop`` / ``restart`` / ``kill``."""

    def __init__(self, *, port: int | None = None, user: str = "meshq") -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; install the "
                               "postgresql package")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.port = port or free_port()
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="meshq-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.log = self.root / "server.log"
        self._run_as = _server_user()
        if self._run_as is not None:
            os.chown(self.root, self._run_as.pw_uid, self._run_as.pw_gid)

    @property
    def dsn(self) -> str:
        """A URL over TCP on loopback (what a replica on another host would use)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary (as the server's user when we are root: through
        ``runuser``, so the fork from a process full of gRPC threads runs no Python code)."""
        if self._run_as is not None:
            args = ("runuser", "-u", self._run_as.pw_name, "--", *args)
        return subprocess.run(args, check=check, capture_output=True, text=True, cwd=self.root)

    def init(self) -> PgCluster:
        self._cmd(str(self.initdb), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\nfsync = on\n"
                "max_connections = 200\nshared_buffers = 128MB\n"
                "log_min_messages = warning\n")
        return self

    def start(self) -> None:
        done = self._cmd(str(self.pg_ctl), "-D", str(self.data), "-l", str(self.log), "-w",
                         "-t", str(START_TIMEOUT), "start", check=False)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout} {done.stderr}\n{tail}")

    def stop(self, mode: str = "fast") -> str:
        """Stop the server; pg_ctl's output (it may say the server was not running)."""
        done = self._cmd(str(self.pg_ctl), "-D", str(self.data), "-m", mode, "-w", "stop",
                         check=False)
        return f"{done.returncode}: {done.stdout} {done.stderr}"

    def restart(self) -> None:
        """Stop at once (connections cut, like a crash of the primary) and start again."""
        stopped = self.stop("immediate")
        for attempt in range(5):  # the old postmaster's children may still be exiting
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 4:
                    raise RuntimeError(f"restart failed; the stop said {stopped}") from None
                time.sleep(0.5)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the port accepts TCP connections."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root needs a 'postgres' user to run the server; "
                           "install the postgresql package") from None
