"""Pools' desired state survives a restart of the server (SQLite in the data dir).

Real servers on loopback (asyncio backend) on one data dir: the first is stopped without
stopping its pools, the second re-creates them from pools.db.
"""

from __future__ import annotations

import stat
from pathlib import Path

from helpers import eventually

from meshq.api.connection import Connection
from meshq.api.pools import PoolsClient
from meshq.pools.model import HIDDEN, PoolConfig, RuntimeConfig, ScalingConfig, WorkerConfig
from meshq.pools.store import SqlitePoolStore
from meshq.server.app import StackConfig
from meshq.server.runner import open_stack

SLEEP = "pool_workers:SleepWorker"


async def test_pools_are_recreated_when_the_server_starts_again(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, listen="127.0.0.1:0",
                         settings={"pool_backend": "asyncio"})
    # Given a server with an autoscaled pool and a fixed one, the fixed one scaled to 2
    stack = await open_stack(config)
    conn = Connection(server=stack.address, token=stack.context.token)
    pools = PoolsClient(conn)
    await pools.start(room="r1", queue="jobs", worker_class=SLEEP, name="fixed",
                      worker_args={"seconds": 0.01}, concurrency=3)
    await pools.scale("fixed", replicas=2)
    await pools.start(room="r2", queue="work", worker_class=SLEEP, name="auto", min_replicas=1,
                      max_replicas=4, target_backlog=7)
    await pools.start(room="r2", queue="gone", worker_class=SLEEP, name="stopped")
    await pools.stop("stopped", grace=0.1)
    await conn.close()

    # When it stops (its pools with it) and a new server starts on the same data dir
    await stack.stop(grace=0.5)
    stack = await open_stack(config)
    conn = Connection(server=stack.address, token=stack.context.token)
    pools = PoolsClient(conn)
    try:
        # Then the pools that were running come back as they were, the stopped one does not
        async def back() -> bool:
            listed = await pools.list()
            return len(listed) == 2 and all(p.replicas_running == p.replicas_wanted >= 1
                                            for p in listed)

        await eventually(back, timeout=20, what="both pools re-created and running")
        fixed, auto = await pools.get("fixed"), await pools.get("auto")
        assert (fixed.room, fixed.queue, fixed.replicas, fixed.concurrency) == ("r1", "jobs", 2, 3)
        assert (auto.room, auto.min_replicas, auto.max_replicas, auto.target_backlog) == (
            "r2", 1, 4, 7)
        # And the store file is private
        mode = stat.S_IMODE((tmp_path / "pools.db").stat().st_mode)
        assert mode & 0o077 == 0
    finally:
        for pool in await pools.list():
            await pools.stop(pool.name, room=pool.room, grace=0.1)
        await conn.close()
        await stack.stop(grace=0.5)


def test_the_store_keeps_env_values_to_recreate_but_listings_hide_them(tmp_path: Path) -> None:
    from meshq.pools.convert import pool_spec_to_proto

    config = PoolConfig(name="p", scaling=ScalingConfig(replicas=1),
                        worker=WorkerConfig(room="r", queue="q", worker_class=SLEEP),
                        runtime=RuntimeConfig(env={"OPENAI_API_KEY": "sk-secret-1"}))
    store = SqlitePoolStore(tmp_path / "pools.db")
    store.save(config)
    store.close()
    assert SqlitePoolStore(tmp_path / "pools.db").load()[0].runtime.env == {
        "OPENAI_API_KEY": "sk-secret-1"}
    shown = pool_spec_to_proto(config)
    assert dict(shown.env) == {"OPENAI_API_KEY": HIDDEN}
    assert "sk-secret-1" not in repr(config)


async def test_a_second_workers_service_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    import pytest

    from meshq.core.errors import FailedPrecondition

    # Given `meshq serve workers` on a data dir (its pools.db holds the pools' desired state)
    config = StackConfig(data_dir=tmp_path, listen="127.0.0.1:0", services=("workers",),
                         queue_server="127.0.0.1:1", queue_token="t",
                         settings={"pool_backend": "asyncio"})
    first = await open_stack(config)
    try:
        # When a second one starts on it, it is refused naming the holder (two would both
        # re-create and supervise the same pools)
        with pytest.raises(FailedPrecondition, match="workers store is held by meshq pid"):
            await open_stack(config)
    finally:
        await first.stop(grace=0.1)
