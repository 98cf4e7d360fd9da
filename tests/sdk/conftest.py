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

