"""The pool manager: the Workers service's domain core (the servicer only converts).

It validates a pool before anything starts (import path, replicas range, a unique name),
joins the backend lazily at the first StartPool (``ray.init`` costs seconds, ``meshq up``
should not), and keeps one ``PoolSupervisor`` per running pool. A pool that fails to start
leaves nothing behind. A stopped pool is forgotten: its name can be used again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from meshq.core.errors import AlreadyExists, InvalidArgument, NotFound
from meshq.pools.backend import PoolBackend
from meshq.pools.model import DEFAULT_STOP_GRACE, Connect, PoolConfig, PoolSnapshot
from meshq.pools.observer import PoolObserver
from meshq.pools.supervisor import LoadSource, PoolSupervisor, SupervisorTiming
from meshq.pools.validate import check_scaling
from meshq.pools.workerspec import resolve_worker_class

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0  # seconds running jobs get when the whole service stops


class PoolManager:
    """Starts, lists, scales and stops pools on one backend."""

    def __init__(self, *, backend: PoolBackend | Callable[[], PoolBackend], connect: Connect,
                 load: LoadSource, observer: PoolObserver | None = None,
                 timing: SupervisorTiming | None = None) -> None:
        self._backend_or_factory = backend
        self._backend: PoolBackend | None = backend if isinstance(backend, PoolBackend) else None
        self._connect = connect
        self._load = load
        self._observer = observer or PoolObserver()
        self._timing = timing or SupervisorTiming()
        self._pools: dict[str, PoolSupervisor] = {}
        self._lock = asyncio.Lock()

    @property
    def backend(self) -> PoolBackend:
        if self._backend is None:
            factory = self._backend_or_factory
            assert callable(factory)
            self._backend = factory()  # type: ignore[call-arg]
        return self._backend

    async def start_pool(self, config: PoolConfig) -> PoolSnapshot:
        """Validate and start a pool; its first replicas run when this returns."""
        if not config.name:
            config = replace(config, name=f"{config.worker.queue}-{uuid.uuid4().hex[:6]}")
        if config.worker.worker_class:
            await asyncio.to_thread(resolve_worker_class, config.worker.worker_class)
        async with self._lock:
            if config.name in self._pools:
                raise AlreadyExists(f"pool {config.name!r} exists; stop it or pick another name")
            supervisor = PoolSupervisor(config, self.backend, self._connect, load=self._load,
                                        observer=self._observer, timing=self._timing)
            self._pools[config.name] = supervisor
        try:
            await supervisor.start()
        except BaseException:
            self._pools.pop(config.name, None)
            raise
        logger.info("pool %s started: %s/%s on %s, %d replicas", config.name,
                    config.worker.room, config.worker.queue, self.backend.name, supervisor.wanted)
        return supervisor.snapshot()

    def list_pools(self, room: str = "") -> list[PoolSnapshot]:
        return [s.snapshot() for name, s in sorted(self._pools.items())
                if not room or s.config.worker.room == room]

    def pool(self, name: str) -> PoolSupervisor:
        try:
            return self._pools[name]
        except KeyError:
            raise NotFound(f"pool {name!r} does not exist (see `meshq pool list`)") from None

    def get_pool(self, name: str) -> PoolSnapshot:
        return self.pool(name).snapshot()

    async def scale_pool(self, name: str, *, replicas: int | None = None,
                         min_replicas: int | None = None, max_replicas: int | None = None,
                         target_backlog: int | None = None) -> PoolSnapshot:
        """Fixed ``replicas`` turns autoscaling off; any bound turns (or keeps) it on."""
        supervisor = self.pool(name)
        current = supervisor.config.scaling
        if replicas is not None:
            if any(v is not None for v in (min_replicas, max_replicas)):
                raise InvalidArgument("give replicas, or min/max replicas, not both")
            scaling = replace(current, replicas=replicas, max_replicas=0)
        elif all(v is None for v in (min_replicas, max_replicas, target_backlog)):
            raise InvalidArgument("nothing to change: give replicas, min/max replicas or "
                                  "target backlog")
        else:
            scaling = replace(
                current,
                min_replicas=current.min_replicas if min_replicas is None else min_replicas,
                max_replicas=(max(current.max_replicas, current.replicas)
                              if max_replicas is None else max_replicas),
                target_backlog=current.target_backlog if target_backlog is None
                else target_backlog)
        scaling = check_scaling(scaling)
        await supervisor.scale(scaling)
        return supervisor.snapshot()

    async def stop_pool(self, name: str, *, grace: float = DEFAULT_STOP_GRACE) -> PoolSnapshot:
        supervisor = self.pool(name)
        snapshot = await supervisor.stop(grace)
        if self._pools.get(name) is supervisor:
            del self._pools[name]
        logger.info("pool %s stopped (%d done, %d failed)", name, snapshot.jobs_done,
                    snapshot.jobs_failed)
        return snapshot

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop every pool (the service is stopping)."""
        names = list(self._pools)
        await asyncio.gather(*(self.stop_pool(n, grace=grace) for n in names),
                             return_exceptions=True)
        if self._backend is not None:
            await self._backend.close()

