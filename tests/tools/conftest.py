"""A ToolContext whose room is the real SDK RoomClient on the suite's shared server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from meshq.api.connection import Connection
from meshq.api.rooms import RoomClient
from meshq.tools import ToolContext


@pytest.fixture
async def room(server: Any) -> AsyncIterator[RoomClient]:
    conn = Connection(server=server.address, token=server.token, timeout=30.0,
                      data_dir=server.data_dir)
    client = RoomClient(room=f"tools-{uuid.uuid4().hex[:12]}", connection=conn)
    yield client
    await conn.close()


@pytest.fixture
def context(room: RoomClient) -> ToolContext:
    return ToolContext(room=room, message_id="m-1", caller="test-worker")
