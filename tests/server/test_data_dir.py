"""One server per store, and private files: two real `meshq up` on one data dir, and modes.

A second `meshq up` on a data dir in use must exit non-zero with one line naming the holder
(its PID and address) before it opens any store; `meshq serve` processes sharing a data dir
for different services lock only what they open. Everything meshq creates is 0700 / 0600
whatever the umask, and a looser existing data dir is tightened with a warning.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from meshq_child import listening_address

from meshq.api.connection import Connection
from meshq.api.storage import StorageClient
from meshq.core.errors import FailedPrecondition
from meshq.server.app import StackConfig, start_stack

pytestmark = pytest.mark.slow

MESHQ = Path(sys.executable).with_name("meshq")
START_TIMEOUT = 120.0  # generous: a loaded machine starts Python slowly; never hit when fine


class Up:
    """A `meshq up` child process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.address = ""

    async def spawn(self, listen: str = "127.0.0.1:0") -> asyncio.subprocess.Process:
        self.proc = await asyncio.create_subprocess_exec(
            str(MESHQ), "up", "--data-dir", str(self.data_dir), "--listen", listen,
            "--metrics-listen", "", "--pool-backend", "asyncio",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
        return self.proc

    async def start(self) -> None:
        proc = await self.spawn()
        assert proc.stdout is not None
        self.address = await listening_address(proc.stdout, START_TIMEOUT)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            await self.proc.wait()


@pytest.fixture
async def first(tmp_path: Path) -> AsyncIterator[Up]:
    up = Up(tmp_path / "data")
    try:
        yield up
    finally:
        await up.stop(signal.SIGKILL)


async def _serving(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="meshq.v1.QueueService"), timeout=10)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("port", ["another", "the same"])
async def test_a_second_meshq_up_on_the_same_data_dir_exits_naming_the_holder(
    first: Up, port: str
) -> None:
    # Given a running `meshq up`
    await first.start()
    assert first.proc is not None
    # When a second one starts on the same data dir (on another port, or on the same one:
    # the data dir is checked first, so the holder is named either way)
    second = Up(first.data_dir)
    proc = await second.spawn("127.0.0.1:0" if port == "another" else first.address)
    async with asyncio.timeout(START_TIMEOUT):
        out, err = await proc.communicate()
    # Then it exits non-zero with one line naming the first one's PID and address
    lines = err.decode().strip().splitlines()
    assert proc.returncode != 0
    assert len(lines) == 1, lines
    assert f"pid {first.proc.pid}" in lines[0] and first.address in lines[0], lines[0]
    assert "listening on" not in out.decode()
    # And the first one goes on serving
    assert await _serving(first.address)


async def test_a_killed_server_leaves_no_stale_lock(first: Up) -> None:
    await first.start()
    await first.stop(signal.SIGKILL)
    again = Up(first.data_dir)
    try:
        await again.start()
        assert await _serving(again.address)
    finally:
        await again.stop()


async def test_serve_processes_lock_only_the_stores_they_open(tmp_path: Path) -> None:
    def config(*services: str) -> StackConfig:
        return StackConfig(data_dir=tmp_path, listen="127.0.0.1:0", services=services,
                           auth=False)

    queue = await start_stack(config("queue"))
    storage = await start_stack(config("storage", "workers"))
    try:
        with pytest.raises(FailedPrecondition, match=f"queue store is held by meshq pid "
                                                     f"{os.getpid()} at {queue.address}"):
            await start_stack(config("queue"))
        with pytest.raises(FailedPrecondition, match="storage store"):
            await start_stack(config("storage"))
    finally:
        await storage.stop(grace=0.5)
        await queue.stop(grace=0.5)
    # once stopped, the locks are free again
    again = await start_stack(config("queue", "storage"))
    await again.stop(grace=0.5)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_everything_meshq_up_creates_is_private(first: Up, tmp_path: Path) -> None:
    # Given a permissive umask and a data dir two levels below what exists
    first.data_dir = tmp_path / "new" / "data"
    old_umask = os.umask(0o022)
    try:
        await first.start()
    finally:
        os.umask(old_umask)
    # When a room file is written
    token = (first.data_dir / "admin.token").read_text().strip()
    async with Connection(server=first.address, token=token, timeout=30) as conn:
        await StorageClient(conn, "modes").write("deep/er/poem.txt", "roses")
    await first.stop()  # SQLite's -wal / -shm exist while it runs; the files stay checked
    # Then every folder is 0700 and every file 0600, parents the server created included
    folders = [tmp_path / "new", first.data_dir]
    files: list[Path] = []
    for root, dirs, names in os.walk(first.data_dir):
        folders += [Path(root, d) for d in dirs]
        files += [Path(root, n) for n in names]
    assert {p.name for p in files} >= {"queues.db", "scheduler.db", "api_key", "admin.token",
                                       "queue.lock", "poem.txt"}
    assert {str(p): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
    assert {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}


async def test_sqlite_side_files_are_private_while_running(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        stack = await start_stack(StackConfig(data_dir=tmp_path / "d", listen="127.0.0.1:0",
                                              services=("queue", "scheduler"), auth=False))
    finally:
        os.umask(old_umask)
    try:
        names = {p.name: _mode(p) for p in (tmp_path / "d").iterdir()}
        assert {"queues.db-wal", "queues.db-shm", "scheduler.db-wal"} <= set(names), names
        assert {n: oct(m) for n, m in names.items() if m != 0o600} == {}
    finally:
        await stack.stop(grace=0.5)


async def test_a_looser_existing_data_dir_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "loose"
    data_dir.mkdir()
    os.chmod(data_dir, 0o755)
    stack = await start_stack(StackConfig(data_dir=data_dir, listen="127.0.0.1:0",
                                          services=("storage",), auth=False))
    await stack.stop(grace=0.5)
    assert _mode(data_dir) == 0o700
    assert any("open to other users (mode 755)" in r.getMessage() for r in caplog.records)


async def test_a_shared_folder_is_refused_not_taken_over(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: tightening it would lock everyone else out
    with pytest.raises(FailedPrecondition, match="shared folder"):
        await start_stack(StackConfig(data_dir=shared, listen="127.0.0.1:0",
                                      services=("storage",), auth=False))
    assert _mode(shared) == 0o1777
