"""Session-wide fixtures: one real meshq server (gRPC on loopback, SQLite on disk) for the suite.

Tests share it and isolate themselves by using their own room / queue names (``unique``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshq.server.app import Stack, StackConfig
from meshq.server.runner import open_stack
from meshq.server.settings import PoolsConfig, Settings

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@dataclass
class ServerHandle:
    """What tests need of the shared server."""

    stack: Stack
    data_dir: Path

    @property
    def address(self) -> str:
        return self.stack.address

    @property
    def metrics_address(self) -> str:
        return f"127.0.0.1:{self.stack.metrics_port}"

    @property
    def token(self) -> str:
        return self.stack.context.token

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.stack.context.engine

    def connection(self, **kwargs):  # type: ignore[no-untyped-def]
        from meshq.api.connection import Connection

        kwargs.setdefault("token", self.token)
        return Connection(server=self.address, **kwargs)


@pytest.fixture(scope="session")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerHandle]:
    data_dir = tmp_path_factory.mktemp("meshq-data")
    config = StackConfig(
        data_dir=data_dir,
        listen="127.0.0.1:0",
        settings=Settings(pools=PoolsConfig(backend="asyncio")),
    )
    stack = await open_stack(config, metrics_listen="127.0.0.1:0")
    try:
        yield ServerHandle(stack=stack, data_dir=data_dir)
    finally:
        await stack.stop(grace=1.0)


@pytest.fixture
def unique() -> Iterator[str]:
    """A fresh name for a room or queue."""
    yield "t-" + uuid.uuid4().hex[:12]
