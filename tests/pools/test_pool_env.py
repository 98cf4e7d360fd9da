"""Pools carry their environment: env variables, a working dir and modules shipped by Ray.

A real local Ray (the session's); the worker class lives only in a temporary directory that
is on nobody's path: Ray ships it (runtime_env working_dir / py_modules) to the actors.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import grpc
import pytest
from helpers import eventually, queue_counts, send_jobs

from meshq.api.pools import PoolsClient
from meshq.pools.component import engine_load
from meshq.pools.convert import pool_to_proto
from meshq.pools.model import Connect, PoolConfig, RuntimeConfig, ScalingConfig, WorkerConfig
from meshq.pools.ray_backend import RayBackend
from meshq.pools.service import PoolManager
from meshq.pools.supervisor import SupervisorTiming

SECRET = "sk-test-0123456789-do-not-print"

WORKER = '''
import os

from helper_pkg import expected
from meshq.agents.worker import Worker


class EnvWorker(Worker):
    """Each job succeeds only if the pool's env reached this process."""

    async def process_message(self, *, chat_context, room, message, toolkits):
        if os.environ.get("POOL_SECRET") != expected():
            raise RuntimeError("POOL_SECRET did not arrive")
        return "ok"
'''


def project(tmp_path: Path) -> tuple[Path, Path]:
    """A working dir with the worker module, and a package it imports (a py_module)."""
    work, package = tmp_path / "work", tmp_path / "libs" / "helper_pkg"
    work.mkdir()
    package.mkdir(parents=True)
    (work / "env_worker.py").write_text(WORKER)
    (package / "__init__.py").write_text(textwrap.dedent(f"""
        def expected():
            return {SECRET!r}
    """))
    return work, package


@pytest.mark.slow
async def test_env_working_dir_and_py_modules_reach_the_actors_and_secrets_stay_hidden(
    server: Any, ray_cluster: Any, unique: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    # Given a pool whose worker exists only in a shipped working dir, importing a shipped
    # package, and needing a secret from its env
    work, package = project(tmp_path)
    caplog.set_level(logging.DEBUG)
    manager = PoolManager(
        backend=RayBackend(), connect=Connect(server_address=server.address, token=server.token),
        load=engine_load(server.engine), timing=SupervisorTiming(interval=0.25))
    config = PoolConfig(
        name=unique, scaling=ScalingConfig(replicas=1), cpus_per_actor=0.1,
        worker=WorkerConfig(room=unique, queue="jobs", worker_class="env_worker:EnvWorker"),
        runtime=RuntimeConfig(env={"POOL_SECRET": SECRET}, working_dir=str(work),
                              py_modules=(str(package),)))
    try:
        # When it starts and jobs arrive
        started = await manager.start_pool(config)
        await send_jobs(server, unique, "jobs", [{"n": i} for i in range(3)])

        async def done() -> bool:
            return manager.get_pool(unique).jobs_done == 3

        await eventually(done, timeout=60, what="3 jobs done with the shipped code and env")
        assert queue_counts(server, unique, "jobs") == (0, 0, 0)

        # Then the secret shows nowhere: not in the reply, the logs or the metrics
        reply = pool_to_proto(started)
        assert dict(reply.spec.env) == {"POOL_SECRET": "<hidden>"}
        assert SECRET not in str(reply) and SECRET not in caplog.text
        assert SECRET not in repr(manager.get_pool(unique))
        from prometheus_client import generate_latest

        assert SECRET.encode() not in generate_latest(server.stack.registry)
    finally:
        await manager.close(grace=0.5)


async def test_runtime_settings_are_checked_and_need_ray(
    server: Any, unique: str, tmp_path: Path
) -> None:
    conn = server.connection()
    pools = PoolsClient(conn)
    try:
        cases = [
            ({"working_dir": str(tmp_path / "missing")}, grpc.StatusCode.INVALID_ARGUMENT,
             "does not exist on the server's machine as a directory"),
            ({"working_dir": "relative/dir"}, grpc.StatusCode.INVALID_ARGUMENT,
             "must be an absolute path"),
            ({"env": {"1BAD": "x"}}, grpc.StatusCode.INVALID_ARGUMENT, "is not a variable name"),
            ({"env": {"OK": SECRET}}, grpc.StatusCode.FAILED_PRECONDITION,
             "are shipped by Ray"),  # the suite's server runs pools on asyncio
        ]
        for kwargs, code, text in cases:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await pools.start(room=unique, queue="jobs", name=unique,
                                  worker_class="pool_workers:SleepWorker", **kwargs)
            assert caught.value.code() == code, kwargs
            assert text in (caught.value.details() or "")
            assert SECRET not in (caught.value.details() or "")
        assert await pools.list(room=unique) == []
    finally:
        await conn.close()
