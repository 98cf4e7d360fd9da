"""Fixtures for worker tests: a real server (gRPC on loopback, SQLite on disk, room storage).

``mq`` is the lead's session ``server``; until that hosts the queue service (and for tests
that must stop and restart a server) ``local_server`` assembles the same parts itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from meshq.api.connection import MAX_MESSAGE_BYTES
from meshq.api.rooms import RoomClient


@dataclass
class LocalServer:
    address: str
    data_dir: Path
    token: str = ""


def _queue_component_ready() -> bool:
    return importlib.util.find_spec("meshq.queue.component") is not None


@asynccontextmanager
async def local_server(data_dir: Path, listen: str = "127.0.0.1:0") -> AsyncIterator[LocalServer]:
    """Queue (SQLite in ``data_dir``) + storage on one gRPC server, no auth."""
    if _queue_component_ready():
        from meshq.server.app import StackConfig, start_stack

        stack = await start_stack(StackConfig(data_dir=data_dir, listen=listen,
                                              services=("queue", "storage"), auth=False))
        try:
            yield LocalServer(address=stack.address, data_dir=data_dir)
        finally:
            await stack.stop(grace=0.5)
        return
    async with _assembled(data_dir, listen) as server:
        yield server


@asynccontextmanager
async def _assembled(data_dir: Path, listen: str) -> AsyncIterator[LocalServer]:
    # TEMPORARY until meshq.queue.component lands: the same servicers, wired by hand.
    from meshq.queue.engine import QueueEngine
    from meshq.queue.servicer import QueueServicer, RoomServicer
    from meshq.queue.sqlite_store import SqliteQueueStore
    from meshq.server.context import StackContext
    from meshq.storage.component import build_component
    from meshq.v1 import queues_pb2_grpc, rooms_pb2_grpc

    engine = QueueEngine(SqliteQueueStore(data_dir / "queues.db"))
    await engine.start()
    storage = build_component(StackContext(data_dir=data_dir))
    await storage.start()
    srv = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    rooms_pb2_grpc.add_RoomServiceServicer_to_server(RoomServicer(engine), srv)
    queues_pb2_grpc.add_QueueServiceServicer_to_server(QueueServicer(engine), srv)
    storage.register(srv)
    port = srv.add_insecure_port(listen)
    await srv.start()
    try:
        yield LocalServer(address=f"127.0.0.1:{port}", data_dir=data_dir)
    finally:
        await srv.stop(0.5)
        await engine.stop()


if not _queue_component_ready():
    # TEMPORARY: the lead's session ``server`` cannot host the queue service yet.
    @pytest.fixture(scope="session")
    async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalServer]:
        async with local_server(tmp_path_factory.mktemp("agents-mq")) as local:
            yield local


@pytest.fixture
def mq(server: Any) -> Any:
    """The shared server (the lead's, or the temporary one above)."""
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
