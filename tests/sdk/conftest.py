"""SDK tests run against the lead's session ``server`` (tests/conftest.py): real gRPC on
loopback, real SQLite in a temp dir. Each test gets its own room (``unique``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from meshq.api.client import MeshqClient
from meshq.api.rooms import RoomClient


@pytest.fixture
async def client(server: Any) -> AsyncIterator[MeshqClient]:
    async with MeshqClient(server=server.address, token=server.token, timeout=10) as c:
        yield c


@pytest.fixture
async def room(server: Any, unique: str) -> AsyncIterator[RoomClient]:
    async with RoomClient(room=unique, server=server.address, token=server.token,
                          timeout=10) as r:
        yield r


# TEMPORARY, until the SQLite store is committed and the queue component is in the lead's
# session server: the same attributes (address, token, data_dir, engine, connection()) over
# the in-memory store.
import grpc  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from meshq.api.connection import MAX_MESSAGE_BYTES, Connection  # noqa: E402


@dataclass
class LocalServer:
    address: str
    data_dir: Path
    engine: Any
    token: str = ""

    def connection(self, **kwargs: Any) -> Connection:
        return Connection(server=self.address, token=self.token, **kwargs)


@pytest.fixture(scope="session")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalServer]:
    from meshq.queue.engine import QueueEngine
    from meshq.queue.memory_store import MemoryQueueStore
    from meshq.queue.servicer import QueueServicer, RoomServicer
    from meshq.v1 import queues_pb2_grpc, rooms_pb2_grpc

    engine = QueueEngine(MemoryQueueStore())
    await engine.start()
    srv = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    rooms_pb2_grpc.add_RoomServiceServicer_to_server(RoomServicer(engine), srv)
    queues_pb2_grpc.add_QueueServiceServicer_to_server(QueueServicer(engine), srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield LocalServer(address=f"127.0.0.1:{port}", data_dir=tmp_path_factory.mktemp("q"),
                          engine=engine)
    finally:
        await srv.stop(1)
        await engine.stop()
