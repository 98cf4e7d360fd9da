"""Real `meshq up` replicas on one PostgreSQL, for the multi-process tests.

Every replica gets its own data dir and the same API key file (``--api-key-file``), so a
token minted by one is accepted by all; pools run on asyncio (no Ray) to keep start-up fast.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from meshq.api.connection import Connection
from meshq.security.keys import mint_admin_token, new_api_key

MESHQ = Path(sys.executable).with_name("meshq")
START_TIMEOUT = 60.0


class Replica:
    """One `meshq up --database-url URL` child process."""

    def __init__(self, name: str, root: Path, url: str, api_key_file: Path) -> None:
        self.name = name
        self.data_dir = root / name
        self.url = url
        self.api_key_file = api_key_file
        self.proc: asyncio.subprocess.Process | None = None
        self.address = ""

    async def start(self) -> Replica:
        self.proc = await asyncio.create_subprocess_exec(
            str(MESHQ), "up", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0",
            "--metrics-listen", "", "--studio-listen", "", "--pool-backend", "asyncio",
            "--database-url", self.url, "--api-key-file", str(self.api_key_file),
            "--replica-id", self.name,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                assert line, f"replica {self.name} exited before it was ready"
                if "listening on" in line:
                    self.address = line.rsplit(" ", 1)[1].strip()
                    return self

    def connection(self, token: str, **kwargs: object) -> Connection:
        return Connection(server=self.address, token=token, **kwargs)  # type: ignore[arg-type]

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no hand-back, as a crash."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                await self.kill()


class Replicas:
    """Several replicas sharing one database and one API key; ``token`` is an admin token."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        key = new_api_key()
        self.api_key_file = root / "api_key"
        self.api_key_file.write_text(key)
        self.api_key_file.chmod(0o600)
        self.token = mint_admin_token(key)
        self.all: list[Replica] = []

    async def start(self, n: int) -> list[Replica]:
        replicas = [Replica(f"replica-{len(self.all) + i}", self.root, self.url,
                            self.api_key_file) for i in range(n)]
        self.all.extend(replicas)
        await asyncio.gather(*(r.start() for r in replicas))
        return replicas

    async def close(self) -> None:
        await asyncio.gather(*(r.kill() for r in self.all))
