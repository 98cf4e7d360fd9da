"""Fixtures for worker tests: a real server (gRPC on loopback, SQLite on disk, room storage).

``mq`` is the lead's session ``server``; ``local_server`` starts a private one for tests that
must stop a server and restart it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshq.api.rooms import RoomClient
from meshq.server.app import StackConfig, start_stack


@dataclass
class LocalServer:
    address: str
    data_dir: Path
    token: str = ""


@asynccontextmanager
async def local_server(data_dir: Path, listen: str = "127.0.0.1:0") -> AsyncIterator[LocalServer]:
    """Queue (SQLite in ``data_dir``) + storage on one gRPC server, no auth: for tests that
    stop a server and start it again on the same port."""
    stack = await start_stack(StackConfig(data_dir=data_dir, listen=listen,
                                          services=("queue", "storage"), auth=False))
    try:
        yield LocalServer(address=stack.address, data_dir=data_dir)
    finally:
        await stack.stop(grace=0.5)


@pytest.fixture
def mq(server: Any) -> Any:
    """The lead's shared session server."""
    return server


@pytest.fixture
async def room(mq: Any, unique: str) -> AsyncIterator[RoomClient]:
    async with RoomClient(room=unique, server=mq.address, token=mq.token or None,
                          timeout=10) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 15.0,
                     what: str = "condition") -> None:
    """Poll ``check`` until true (for state seen only through the server), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
