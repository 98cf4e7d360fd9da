"""The Workers service over gRPC with the asyncio backend: start, scale, stop, bad input.

The server is the suite's real in-process server (gRPC on loopback, SQLite on disk) hosting
WorkerService with ``pool_backend="asyncio"``; workers are real ``Worker`` subclasses.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from helpers import eventually, queue_counts, send_jobs

from meshq.api.pools import PoolsClient

SLEEP = "pool_workers:SleepWorker"


async def test_a_pool_works_through_its_queue_and_reports_counts(
    server: Any, pools: PoolsClient, unique: str
) -> None:
    # Given a pool of 2 replicas x concurrency 4 on a queue with 40 jobs
    await send_jobs(server, unique, "jobs", [{"n": i, "sleep": 0.01} for i in range(40)])
    pool = await pools.start(room=unique, queue="jobs", worker_class=SLEEP, replicas=2,
                             concurrency=4, name=unique)
    assert (pool.replicas_wanted, pool.replicas_running, pool.backend) == (2, 2, "asyncio")

    # Then every job is done and the pool's counters say so
    async def all_done() -> bool:
        return (await pools.get(unique)).jobs_done >= 40

    await eventually(all_done, timeout=20, what="40 jobs done")
    assert queue_counts(server, unique, "jobs") == (0, 0, 0)
    listed = await pools.list(room=unique)
    assert [p.name for p in listed] == [unique]
    assert sorted(a.index for a in listed[0].actors) == [0, 1]
    stopped = await pools.stop(unique, grace=1.0)
    assert stopped.state == "stopped" and stopped.jobs_done == 40
    assert await pools.list(room=unique) == []


async def test_failed_jobs_count_and_show_the_last_error(
    server: Any, pools: PoolsClient, unique: str
) -> None:
    await pools.start(room=unique, queue="jobs", worker_class=SLEEP, name=unique)
    await send_jobs(server, unique, "jobs", [{"n": 7, "fail": True, "sleep": 0}])

    async def failed() -> bool:
        return (await pools.get(unique)).jobs_failed >= 1

    await eventually(failed, timeout=20, what="a failed job")
    actor = (await pools.get(unique)).actors[0]
    assert "job 7 was asked to fail" in actor.last_error


async def test_scale_up_down_and_to_autoscaling(
    server: Any, pools: PoolsClient, unique: str
) -> None:
    await pools.start(room=unique, queue="jobs", worker_class=SLEEP, replicas=1, name=unique)
    up = await pools.scale(unique, replicas=3)
    assert up.replicas_wanted == 3 and len(up.actors) == 3

    down = await pools.scale(unique, replicas=1)
    assert down.replicas_wanted == 1

    auto = await pools.scale(unique, min_replicas=0, max_replicas=2, target_backlog=5)
    assert auto.autoscaled and (auto.min_replicas, auto.max_replicas) == (0, 2)


async def test_stop_finishes_running_jobs_within_the_grace_and_hands_back_the_rest(
    server: Any, pools: PoolsClient, unique: str
) -> None:
    # Given one replica running 2 short jobs and 2 long ones, with 6 more long jobs waiting
    name = unique + "-a"
    await pools.start(room=unique, queue="jobs", worker_class=SLEEP, concurrency=4, name=name,
                      worker_args={"lease_seconds": 60})
    await send_jobs(server, unique, "jobs", [{"n": 0, "sleep": 0.5}, {"n": 1, "sleep": 0.5}]
                    + [{"n": i, "sleep": 60} for i in range(2, 10)])

    async def four_running() -> bool:  # running in the replica, not merely leased to it
        return (await pools.get(name)).jobs_in_flight == 4

    await eventually(four_running, timeout=10, what="4 jobs running")

    # When the pool stops with a 3 s grace
    started = time.monotonic()
    stopped = await pools.stop(name, grace=3.0)

    # Then the short jobs finished, the long ones went back at the end of the grace
    assert time.monotonic() - started < 3.0 + 2.0
    assert stopped.jobs_done == 2
    assert queue_counts(server, unique, "jobs") == (8, 0, 0)

    # And another pool completes what was handed back (the long jobs, quickly this time)
    await pools.start(room=unique, queue="jobs", worker_class=SLEEP, concurrency=8,
                      name=unique + "-b", worker_args={"cap": 0.01})

    async def drained() -> bool:
        return queue_counts(server, unique, "jobs") == (0, 0, 0)

    await eventually(drained, timeout=30, what="the handed-back jobs done by pool b")

    async def b_counted() -> bool:
        return (await pools.get(unique + "-b")).jobs_done == 8

    await eventually(b_counted, timeout=10, what="pool b counting 8 jobs done")


@pytest.mark.parametrize(("kwargs", "code", "text"), [
    ({"worker_class": "no_such_module_xyz:W"}, grpc.StatusCode.INVALID_ARGUMENT,
     "'no_such_module_xyz' is not importable"),
    ({"worker_class": "examples_elsewhere.word_count_worker:WordCountWorker"},
     grpc.StatusCode.INVALID_ARGUMENT,  # shown whole, not cut mid-name
     "'examples_elsewhere.word_count_worker:WordCountWorker': module 'examples_elsewhere'"),
    ({"worker_class": "pool_workers:NotAWorker"}, grpc.StatusCode.INVALID_ARGUMENT,
     "is not a Worker subclass"),
    ({"worker_class": "pool_workers:Missing"}, grpc.StatusCode.INVALID_ARGUMENT,
     "no 'Missing'"),
    ({"worker_class": "pool_workers"}, grpc.StatusCode.INVALID_ARGUMENT, "not an import path"),
    ({"worker_class": SLEEP, "replicas": 65}, grpc.StatusCode.INVALID_ARGUMENT,
     "replicas must be between 0 and 64"),
    ({"worker_class": SLEEP, "min_replicas": 3, "max_replicas": 2},
     grpc.StatusCode.INVALID_ARGUMENT, "must not exceed max_replicas"),
    ({"worker_class": SLEEP, "worker_args": None, "concurrency": 5000},
     grpc.StatusCode.INVALID_ARGUMENT, "concurrency must be between"),
    ({}, grpc.StatusCode.INVALID_ARGUMENT, "set exactly one of"),
    ({"worker_class": SLEEP, "agent_name": "a"}, grpc.StatusCode.INVALID_ARGUMENT,
     "set exactly one of"),
    ({"worker_class": "pool_workers:BrokenWorker"}, grpc.StatusCode.FAILED_PRECONDITION,
     "BrokenWorker cannot be built"),
    ({"worker_class": SLEEP, "worker_args": {"bogus": 1}}, grpc.StatusCode.FAILED_PRECONDITION,
     "bogus"),
])
async def test_bad_pools_are_refused_and_leave_nothing_behind(
    pools: PoolsClient, unique: str, kwargs: dict[str, Any], code: grpc.StatusCode, text: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pools.start(room=unique, queue="jobs", name=unique, **kwargs)
    assert caught.value.code() == code
    assert text in (caught.value.details() or "")
    assert await pools.list(room=unique) == []


async def test_a_module_without_the_named_class_is_refused_without_being_imported(
    pools: PoolsClient, unique: str
) -> None:
    # Given a module whose import has a visible side effect (it prints the Zen of Python)
    import sys

    assert "this" not in sys.modules
    # When a pool names a class that module does not define
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pools.start(room=unique, queue="jobs", name=unique, worker_class="this:NotAWorker")
    # Then it is refused and the module was never imported
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'this' defines no 'NotAWorker'" in (caught.value.details() or "")
    assert "this" not in sys.modules


async def test_bad_worker_args_json_is_refused(server: Any, unique: str) -> None:
    from meshq.v1 import workers_pb2, workers_pb2_grpc

    conn = server.connection()
    stub = conn.stub(workers_pb2_grpc.WorkerServiceStub)
    for text, detail in (("[1, 2]", "must be a JSON object"), ("{oops", "not valid JSON")):
        spec = workers_pb2.PoolSpec(room=unique, queue="q", worker_class=SLEEP,
                                    worker_args_json=text)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.StartPool(workers_pb2.StartPoolRequest(spec=spec),
                                 metadata=conn.metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert detail in (caught.value.details() or "")
    await conn.close()


async def test_unknown_pools_and_duplicate_names(pools: PoolsClient, unique: str) -> None:
    for call in (pools.get(unique), pools.scale(unique, replicas=2), pools.stop(unique)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    await pools.start(room=unique, queue="jobs", worker_class=SLEEP, name=unique)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pools.start(room=unique, queue="jobs", worker_class=SLEEP, name=unique)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pools.scale(unique, replicas=100)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
