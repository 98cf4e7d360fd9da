"""Storage fixtures over the suite's shared ``server`` (real gRPC, auth on, temp data dir).

``small_limit_server`` is a second, storage-only server whose file size limit is small, so the
over-the-limit path can be tested without streaming 100 MiB.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from meshq.api.connection import Connection
from meshq.api.storage import StorageClient
from meshq.server.context import StackContext
from meshq.server.settings import Settings, StorageConfig
from meshq.storage.component import build_component

SMALL_LIMIT = 2 * 1024 * 1024


@dataclass
class SmallServer:
    address: str
    max_file_bytes: int


@pytest.fixture(scope="session")
async def small_limit_server(tmp_path_factory: pytest.TempPathFactory
                             ) -> AsyncIterator[SmallServer]:
    data_dir = tmp_path_factory.mktemp("storage-small")
    component = build_component(
        StackContext(data_dir=data_dir, settings=Settings(storage=StorageConfig(max_file_bytes=SMALL_LIMIT))))
    server = grpc.aio.server()
    await component.start()
    component.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield SmallServer(address=f"127.0.0.1:{port}", max_file_bytes=SMALL_LIMIT)
    await server.stop(None)
    await component.stop()


@pytest.fixture
async def conn(server: Any) -> AsyncIterator[Connection]:
    connection = Connection(server=server.address, token=server.token, timeout=30.0,
                            data_dir=server.data_dir)
    yield connection
    await connection.close()


@pytest.fixture
def room() -> str:
    return f"room-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def storage(conn: Connection, room: str) -> StorageClient:
    return StorageClient(conn, room)


@pytest.fixture
def room_dir(server: Any, room: str) -> Path:
    """The room's folder on disk (created, so tests can plant symlinks in it)."""
    path = server.data_dir / "storage" / room
    path.mkdir(parents=True, exist_ok=True)
    return path
