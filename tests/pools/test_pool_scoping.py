"""Pools are scoped by room (names, lookups) and run with their own room-scoped tokens.

Real servers on loopback with the asyncio backend; tokens are minted with the server's API key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from helpers import eventually, queue_counts, send_jobs

from meshq.api.connection import Connection
from meshq.api.pools import PoolsClient
from meshq.api.rooms import RoomClient
from meshq.api.tokens import ApiScope, ParticipantToken
from meshq.pools.model import PoolConfig, ScalingConfig, WorkerConfig
from meshq.pools.tokens import PoolTokens, pool_scope, read_api_key
from meshq.server.app import StackConfig
from meshq.server.runner import open_stack
from meshq.server.settings import PoolsConfig, SecurityConfig, Settings

SLEEP = "pool_workers:SleepWorker"


def workers_token(server: Any, room: str) -> str:
    """A token with only the workers grant, on one room."""
    key = read_api_key(server.data_dir)
    assert key
    token = ParticipantToken(name=f"ops-{room}").add_room_grant(room)
    return token.add_api_grant(ApiScope.none().allow_workers()).to_jwt(api_key=key)


async def test_another_rooms_pool_answers_like_an_unknown_name(
    server: Any, pools: PoolsClient, unique: str
) -> None:
    # Given a pool in room A, and a caller whose token has the workers grant on room B only
    room_a, room_b = unique + "-a", unique + "-b"
    await pools.start(room=room_a, queue="jobs", worker_class=SLEEP, name="shared")
    conn = Connection(server=server.address, token=workers_token(server, room_b))
    theirs = PoolsClient(conn)
    try:
        # When B asks for A's pool by name (with or without A's room), and for a name nobody uses
        answers = []
        for call in (theirs.get("shared"), theirs.get("shared", room=room_a),
                     theirs.scale("shared", replicas=2), theirs.stop("shared"),
                     theirs.get("nobody-uses-this")):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            answers.append((caught.value.code(), caught.value.details() or ""))
        # Then every answer is NOT_FOUND, and none names room A
        assert {code for code, _ in answers} == {grpc.StatusCode.NOT_FOUND}
        assert not any(room_a in text for _, text in answers)
        assert answers[0][1] == "pool 'shared' does not exist (see `meshq pool list`)"

        # And B may use the same name in its own room: names are scoped by room
        mine = await theirs.start(room=room_b, queue="jobs", worker_class=SLEEP, name="shared")
        assert (mine.room, mine.name) == (room_b, "shared")
        assert (await theirs.get("shared")).room == room_b
        assert [p.room for p in await theirs.list()] == [room_b]
        # while the admin, who sees both, must say which one
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pools.get("shared")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (await pools.get("shared", room=room_a)).room == room_a
        await theirs.stop("shared", grace=0.1)
    finally:
        await conn.close()


def test_a_pool_token_grants_what_a_worker_needs_in_its_room_only() -> None:
    worker = WorkerConfig(room="r", queue="jobs", worker_class="m:W")
    scope = pool_scope(PoolConfig(name="p", worker=worker, scaling=ScalingConfig()))
    assert scope.can_receive("jobs") and not scope.can_receive("other")
    assert scope.can_send("replies") and scope.can_read("a/b") and scope.can_write("a/b")
    assert not (scope.admin or scope.workers or scope.scheduler or scope.queue_manage)

    token = PoolTokens("k" * 32).mint(PoolConfig(name="p", worker=worker, scaling=ScalingConfig()))
    parsed = ParticipantToken.from_jwt(token, api_key="k" * 32)
    assert parsed.rooms == ("r",) and parsed.name == "pool:r/p"


async def test_each_pool_runs_with_its_own_token_so_quotas_are_per_pool(tmp_path: Path) -> None:
    # Given a server whose per-token stream quota is 2
    config = StackConfig(data_dir=tmp_path, listen="127.0.0.1:0",
                         settings=Settings(pools=PoolsConfig(backend="asyncio", store="memory"),
                                           security=SecurityConfig(max_streams_per_token=2)))
    stack = await open_stack(config)
    conn = Connection(server=stack.address, token=stack.context.token)
    pools = PoolsClient(conn)
    try:
        # When two rooms each start a pool of 2 replicas (4 streams: twice the quota)
        for room in ("ra", "rb"):
            started = await pools.start(room=room, queue="jobs", worker_class=SLEEP, replicas=2,
                                        name="p")
            assert started.replicas_running == 2
        # Then both consume: each pool's replicas use its own quota, not the server's token
        server = _Handle(stack)
        for room in ("ra", "rb"):
            await send_jobs(server, room, "jobs", [{"n": i, "sleep": 0} for i in range(5)])

        async def drained() -> bool:
            return all(queue_counts(server, r, "jobs") == (0, 0, 0) for r in ("ra", "rb"))

        await eventually(drained, timeout=20, what="both rooms' jobs done")

        # And the admin's own subscription still opens
        room = RoomClient(room="ra", connection=conn)
        async with room.queues.subscribe(name="jobs", max_in_flight=1, lease=5, create=True):
            pass

        # When a pool grows past its own quota, the replica that cannot subscribe says so
        scaled = await pools.scale("p", room="ra", replicas=3)
        assert scaled.replicas_wanted == 3

        async def refused() -> bool:
            actors = (await pools.get("p", room="ra")).actors
            return any(a.state == "subscribing" and "RESOURCE_EXHAUSTED" in a.last_error
                       for a in actors)

        await eventually(refused, timeout=20, what="replica 2 reporting its refused subscription")
        snap = await pools.get("p", room="ra")
        assert snap.replicas_running == 2
    finally:
        for pool in await pools.list():
            await pools.stop(pool.name, room=pool.room, grace=0.1)
        await conn.close()
        await stack.stop(grace=0.5)


class _Handle:
    """The bits of the suite's ServerHandle that helpers use, for a test's own stack."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.address = stack.address
        self.engine = stack.context.engine

    def connection(self) -> Connection:
        return Connection(server=self.address, token=self.stack.context.token)
