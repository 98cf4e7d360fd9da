"""A real gRPC server on loopback hosting only the storage component, on a temp data dir.

Until the lead's session ``server`` fixture hosts storage, these tests use their own; the
fixture exposes the same attributes (address, token, data_dir).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from meshq.api.connection import Connection
from meshq.api.storage import StorageClient
from meshq.server.context import StackContext
from meshq.storage.component import StorageComponent, build_component

MAX_FILE_BYTES = 16 * 1024 * 1024  # small enough that the over-limit test stays quick


@dataclass
class StorageServer:
    address: str
    data_dir: Path
    component: StorageComponent
    token: str = ""


@pytest.fixture(scope="session")
async def storage_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StorageServer]:
    data_dir = tmp_path_factory.mktemp("storage-data")
    component = build_component(
        StackContext(data_dir=data_dir, settings={"max_file_bytes": MAX_FILE_BYTES}))
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    await component.start()
    component.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield StorageServer(address=f"127.0.0.1:{port}", data_dir=data_dir, component=component)
    await server.stop(None)
    await component.stop()


@pytest.fixture
async def conn(storage_server: StorageServer) -> AsyncIterator[Connection]:
    connection = Connection(server=storage_server.address, token=storage_server.token or None,
                            timeout=30.0, data_dir=storage_server.data_dir)
    yield connection
    await connection.close()


@pytest.fixture
def room() -> str:
    return f"room-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def storage(conn: Connection, room: str) -> StorageClient:
    return StorageClient(conn, room)


@pytest.fixture
def room_dir(storage_server: StorageServer, room: str) -> Path:
    """The room's folder on disk (created, so tests can plant symlinks in it)."""
    path = storage_server.data_dir / "storage" / room
    path.mkdir(parents=True, exist_ok=True)
    return path
