"""Replicas as asyncio tasks in this process: unit tests, and machines without Ray.

Same interface and same ``ReplicaRunner`` as the Ray backend; what it cannot do is survive
the process (a crash takes every replica with it, and their jobs come back through lease
expiry) or use more than this process's one core.
"""

from __future__ import annotations

import asyncio
import logging

from meshq.core.errors import FailedPrecondition
from meshq.pools.backend import PoolBackend, ReplicaHandle
from meshq.pools.model import ReplicaSpec, ReplicaStatus
from meshq.pools.replica import ReplicaRunner

logger = logging.getLogger(__name__)


class _Local:
    """The runner of one replica and the task that starts it."""

    def __init__(self, runner: ReplicaRunner, task: asyncio.Task[None]) -> None:
        self.runner = runner
        self.task = task


class AsyncioBackend(PoolBackend):
    """Each replica is a ``ReplicaRunner`` started on this event loop."""

    name = "asyncio"

    async def start_replica(self, spec: ReplicaSpec, index: int) -> ReplicaHandle:
        if not spec.runtime.empty:
            raise FailedPrecondition("env, working_dir and py_modules are shipped by Ray: this "
                                     "server runs pools on the asyncio backend (no Ray)")
        runner = ReplicaRunner(spec, index)
        task = asyncio.get_running_loop().create_task(
            runner.start(), name=f"meshq-pool-{spec.pool}-{index}")
        return ReplicaHandle(index, _Local(runner, task))

    async def stop_replica(self, handle: ReplicaHandle, grace: float) -> ReplicaStatus:
        local: _Local = handle.ref
        if not local.task.done():
            await asyncio.wait({local.task}, timeout=grace)
        return await local.runner.stop(grace)

    async def replica_status(self, handle: ReplicaHandle, *, timeout: float) -> ReplicaStatus:
        local: _Local = handle.ref
        return local.runner.status()
