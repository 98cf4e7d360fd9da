"""The pool manager: the Workers service's domain core (the servicer only converts).

It validates a pool before anything starts (import path, replicas range, a name unique in its
room), joins the backend lazily at the first StartPool (``ray.init`` costs seconds, ``meshq
up`` should not), and keeps one ``PoolSupervisor`` per running pool, keyed by (room, name).
A pool that fails to start leaves nothing behind. A stopped pool is forgotten: its name can be
used again.

Each pool runs with its own token (``PoolTokens``). Its desired state goes to a ``PoolStore``
when it starts, scales or stops; ``restore()`` re-creates the stored pools when the server
starts, if this replica is the supervisor (``SupervisorLease``).

Lookups by name take a ``visible(room)`` predicate: a pool in a room the caller may not see
answers exactly like a pool that does not exist (NOT_FOUND, no room named).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from meshq.core.errors import AlreadyExists, InvalidArgument, NotFound
from meshq.pools.backend import PoolBackend
from meshq.pools.model import DEFAULT_STOP_GRACE, Connect, PoolConfig, PoolSnapshot
from meshq.pools.observer import PoolObserver
from meshq.pools.store import AlwaysSupervisor, MemoryPoolStore, PoolStore, SupervisorLease
from meshq.pools.supervisor import LoadSource, PoolSupervisor, SupervisorTiming
from meshq.pools.tokens import PoolTokens
from meshq.pools.validate import check_scaling
from meshq.pools.workerspec import resolve_worker_class

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0  # seconds running jobs get when the whole service stops
RESTORE_RETRY = 30.0  # seconds between attempts to re-create a stored pool that failed

Visible = Callable[[str], bool]


def _everywhere(room: str) -> bool:
    return True


def _not_found(name: str) -> NotFound:
    return NotFound(f"pool {name!r} does not exist (see `meshq pool list`)")


class PoolManager:
    """Starts, lists, scales and stops pools on one backend."""

    def __init__(self, *, backend: PoolBackend | Callable[[], PoolBackend], connect: Connect,
                 load: LoadSource, observer: PoolObserver | None = None,
                 timing: SupervisorTiming | None = None, tokens: PoolTokens | None = None,
                 store: PoolStore | None = None, lease: SupervisorLease | None = None) -> None:
        self._backend_or_factory = backend
        self._backend: PoolBackend | None = backend if isinstance(backend, PoolBackend) else None
        self._connect = connect
        self._load = load
        self._observer = observer or PoolObserver()
        self._timing = timing or SupervisorTiming()
        self._tokens = tokens or PoolTokens(None, fallback=connect.token)
        self._store = store or MemoryPoolStore()
        self._lease = lease or AlwaysSupervisor()
        self._pools: dict[tuple[str, str], PoolSupervisor] = {}
        self._restoring: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    @property
    def backend(self) -> PoolBackend:
        if self._backend is None:
            factory = self._backend_or_factory
            assert callable(factory)
            self._backend = factory()  # type: ignore[call-arg]
        return self._backend

    # -- start -----------------------------------------------------------------------------

    async def start_pool(self, config: PoolConfig) -> PoolSnapshot:
        """Validate and start a pool; its first replicas run when this returns."""
        if not config.name:
            config = replace(config, name=f"{config.worker.queue}-{uuid.uuid4().hex[:6]}")
        if config.worker.worker_class and not (config.runtime.working_dir
                                                or config.runtime.py_modules):
            # With a working_dir or py_modules the class may exist only where Ray ships them:
            # the replicas check it then (a replica that cannot build it fails the start).
            await asyncio.to_thread(resolve_worker_class, config.worker.worker_class)
        supervisor = await self._register(config)
        try:  # stored first: a pool that runs is one a restart re-creates
            await asyncio.to_thread(self._store.save, supervisor.config)
            await supervisor.start()
        except BaseException:
            self._pools.pop(config.key, None)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._store.delete, *config.key)
            raise
        logger.info("pool %s started: %s/%s on %s, %d replicas", config.name,
                    config.worker.room, config.worker.queue, self.backend.name, supervisor.wanted)
        return supervisor.snapshot()

    async def _register(self, config: PoolConfig) -> PoolSupervisor:
        async with self._lock:
            if config.key in self._pools:
                raise AlreadyExists(f"pool {config.name!r} exists in this room; stop it or pick "
                                    "another name")
            connect = replace(self._connect, token=self._tokens.mint(config))
            supervisor = PoolSupervisor(config, self.backend, connect, load=self._load,
                                        observer=self._observer, timing=self._timing)
            self._pools[config.key] = supervisor
            return supervisor

    # -- restore (server start) ------------------------------------------------------------

    async def restore(self) -> int:
        """Re-create every stored pool (in the background); the number found.

        Does nothing unless this replica holds the supervisor lease. A pool that cannot be
        re-created now (Ray not reachable, a module not installed yet) is retried every
        ``RESTORE_RETRY`` seconds until it starts or is stopped; it is listed meanwhile.
        """
        if not await self._lease.held():
            logger.info("another replica supervises the pools; not re-creating them here")
            return 0
        stored = await asyncio.to_thread(self._store.load)
        for config in stored:
            try:
                supervisor = await self._register(config)
            except AlreadyExists:
                continue
            self._restoring[config.key] = asyncio.get_running_loop().create_task(
                self._restore_one(supervisor), name=f"meshq-pool-restore-{config.name}")
        if stored:
            logger.info("re-creating %d stored pool(s)", len(stored))
        return len(stored)

    async def _restore_one(self, supervisor: PoolSupervisor) -> None:
        config = supervisor.config
        while True:
            try:
                await supervisor.start()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.error("pool %s (room %s) could not be re-created, retrying in %.0fs: "
                             "%s", config.name, config.worker.room, RESTORE_RETRY, err)
                supervisor.reset_for_retry()
                await asyncio.sleep(RESTORE_RETRY)
                continue
            logger.info("pool %s re-created: %s/%s, %d replicas", config.name,
                        config.worker.room, config.worker.queue, supervisor.wanted)
            break
        self._restoring.pop(config.key, None)

    # -- lookups ---------------------------------------------------------------------------

    def list_pools(self, room: str = "", *, visible: Visible = _everywhere) -> list[PoolSnapshot]:
        return [s.snapshot() for key, s in sorted(self._pools.items())
                if (not room or key[0] == room) and visible(key[0])]

    def pool(self, name: str, room: str = "", *, visible: Visible = _everywhere
             ) -> PoolSupervisor:
        """The pool named ``name`` (in ``room``, or in the one visible room that has one)."""
        if room:
            supervisor = self._pools.get((room, name))
            if supervisor is None or not visible(room):
                raise _not_found(name)
            return supervisor
        found = [s for (r, n), s in sorted(self._pools.items()) if n == name and visible(r)]
        if not found:
            raise _not_found(name)
        if len(found) > 1:
            rooms = ", ".join(s.config.worker.room for s in found)
            raise InvalidArgument(f"pool name {name!r} is used in rooms {rooms}: give the room "
                                  "(--room)")
        return found[0]

    def get_pool(self, name: str, room: str = "", *, visible: Visible = _everywhere
                 ) -> PoolSnapshot:
        return self.pool(name, room, visible=visible).snapshot()

    # -- scale and stop --------------------------------------------------------------------

    async def scale_pool(self, name: str, room: str = "", *, replicas: int | None = None,
                         min_replicas: int | None = None, max_replicas: int | None = None,
                         target_backlog: int | None = None, visible: Visible = _everywhere
                         ) -> PoolSnapshot:
        """Fixed ``replicas`` turns autoscaling off; any bound turns (or keeps) it on."""
        supervisor = self.pool(name, room, visible=visible)
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
        await asyncio.to_thread(self._store.save, supervisor.config)
        return supervisor.snapshot()

    async def stop_pool(self, name: str, room: str = "", *, grace: float = DEFAULT_STOP_GRACE,
                        visible: Visible = _everywhere) -> PoolSnapshot:
        supervisor = self.pool(name, room, visible=visible)
        key = supervisor.config.key
        await asyncio.to_thread(self._store.delete, *key)
        snapshot = await self._stop(supervisor, grace)
        logger.info("pool %s stopped (%d done, %d failed)", name, snapshot.jobs_done,
                    snapshot.jobs_failed)
        return snapshot

    async def _stop(self, supervisor: PoolSupervisor, grace: float) -> PoolSnapshot:
        key = supervisor.config.key
        restoring = self._restoring.pop(key, None)
        if restoring is not None:
            restoring.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await restoring
        snapshot = await supervisor.stop(grace)
        if self._pools.get(key) is supervisor:
            del self._pools[key]
        return snapshot

    @property
    def started_backend(self) -> PoolBackend | None:
        """The backend, if a pool made it (the watchdog has nothing to watch before)."""
        return self._backend

    def supervisors(self) -> list[PoolSupervisor]:
        """Every pool's supervisor (the Ray watchdog re-creates them after a Ray restart)."""
        return list(self._pools.values())

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop every pool (the service is stopping); their stored state stays."""
        await asyncio.gather(*(self._stop(s, grace) for s in list(self._pools.values())),
                             return_exceptions=True)
        if self._backend is not None:
            await self._backend.close()
        self._store.close()
