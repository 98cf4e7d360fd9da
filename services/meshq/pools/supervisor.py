"""One pool's supervisor: keep the wanted number of replicas alive and doing work.

Every ``interval`` it polls each replica's status (this is also how actor counters reach
metrics), replaces replicas that are gone for good, notices restarts (a new incarnation),
asks the autoscaler for the wanted count, and starts or retires replicas to match. Retiring a
replica is graceful: it stops taking work, its running jobs get the grace, the rest go back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from meshq.core.errors import FailedPrecondition
from meshq.core.tasks import cancel_and_wait
from meshq.pools.autoscaler import desired_replicas
from meshq.pools.backend import PoolBackend, ReplicaHandle
from meshq.pools.model import (
    DEAD,
    DEFAULT_STOP_GRACE,
    FAILED,
    RESTARTING,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    SUBSCRIBING,
    ActorSnapshot,
    Connect,
    PoolConfig,
    PoolSnapshot,
    QueueLoad,
    ReplicaSpec,
    ReplicaStatus,
    ScalingConfig,
)
from meshq.pools.observer import PoolObserver

logger = logging.getLogger(__name__)

RETIRE_MARGIN = 5.0  # seconds beyond a stop's grace it waits for replicas already retiring

LoadSource = Callable[[str, str], Awaitable[QueueLoad]]
"""(room, queue) -> the queue's ready and in-flight counts."""


@dataclass(frozen=True, kw_only=True)
class SupervisorTiming:
    """How often and how patiently the supervisor works."""

    interval: float = 1.0
    """Seconds between health / autoscaling passes."""
    status_timeout: float = 5.0
    """A replica that does not answer a status call within this is reported "restarting"."""
    start_timeout: float = 120.0
    """StartPool fails (and cleans up) if its first replicas are not running within this."""
    retire_grace: float = DEFAULT_STOP_GRACE
    """Grace given to replicas removed by scaling down."""


@dataclass
class _Replica:
    """The supervisor's view of one replica slot."""

    index: int
    handle: ReplicaHandle
    status: ReplicaStatus = dataclasses.field(default_factory=lambda: ReplicaStatus(state=STARTING))
    incarnation: str = ""
    restarts: int = 0
    base_done: int = 0
    """Counters of earlier incarnations (a restarted process starts from zero)."""
    base_failed: int = 0

    def observe(self, status: ReplicaStatus) -> bool:
        """Take a fresh status; True when the replica restarted since the last one.

        A status without an incarnation did not come from the replica (a status call that
        timed out, a stop whose answer was lost): it changes the state only, and the counters
        last reported stay (zeros from nowhere would erase jobs the replica did)."""
        if not status.incarnation:
            self.status = dataclasses.replace(self.status, state=status.state)
            return False
        restarted = bool(self.incarnation and status.incarnation
                         and status.incarnation != self.incarnation)
        if restarted:
            self._bank()
        self.incarnation = status.incarnation or self.incarnation
        self.status = status
        return restarted

    def _bank(self) -> None:
        self.base_done += self.status.done
        self.base_failed += self.status.failed
        self.restarts += 1

    def replaced(self, handle: ReplicaHandle) -> None:
        self._bank()
        self.handle = handle
        self.incarnation = ""
        self.status = ReplicaStatus(state=STARTING, last_error=self.status.last_error)

    @property
    def done(self) -> int:
        return self.base_done + self.status.done

    @property
    def failed(self) -> int:
        return self.base_failed + self.status.failed

    def snapshot(self, state: str | None = None) -> ActorSnapshot:
        return ActorSnapshot(index=self.index, state=state or self.status.state,
                             in_flight=self.status.in_flight, done=self.done, failed=self.failed,
                             last_error=self.status.last_error, restarts=self.restarts,
                             pid=self.status.pid)


class PoolSupervisor:
    """Runs one pool on a backend (module docstring)."""

    def __init__(self, config: PoolConfig, backend: PoolBackend, connect: Connect, *,
                 load: LoadSource, observer: PoolObserver | None = None,
                 timing: SupervisorTiming | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.backend = backend
        self.state = STARTING
        self.wanted = 0
        self._base_spec = ReplicaSpec(pool=config.name, worker=config.worker, connect=connect,
                                      cpus=config.cpus_per_actor, runtime=config.runtime)
        self._spec = self._base_spec
        self._load = load
        self._observer = observer or PoolObserver()
        self._timing = timing or SupervisorTiming()
        self._clock = clock
        self._active: dict[int, _Replica] = {}
        self._retiring: dict[int, _Replica] = {}
        self._retire_tasks: set[asyncio.Task[None]] = set()
        self._retired_done = 0
        self._retired_failed = 0
        self._last_high_at = clock()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the first replicas and wait until they run; on failure leave nothing behind."""
        try:
            await self.backend.ensure_ready()
            self._spec = await self.backend.prepare(self._base_spec)
            self.wanted = await self._initial_wanted()
            for index in range(self.wanted):
                await self._start_replica(index)
            await self._wait_started()
        except BaseException:
            await self._stop_all(grace=0.0)
            self.state = STOPPED
            raise
        self.state = RUNNING
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"meshq-pool-supervisor-{self.name}")

    def reset_for_retry(self) -> None:
        """After a failed ``start``: ready to be started again (a stored pool re-created)."""
        self.state = STARTING
        self.wanted = 0

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No supervision pass runs inside (the watchdog restarts the backend meanwhile)."""
        async with self._lock:
            yield

    async def recreate(self) -> None:
        """Every replica was lost with its execution substrate (a local Ray that died and was
        started again): start the wanted number afresh, each index keeping its counters and
        counting a restart. Their unsettled jobs came back when their streams closed or come
        back by lease expiry. Call inside ``paused()``."""
        if self._stopping.is_set():
            return
        self._spec = await self.backend.prepare(self._base_spec)  # shipped code died too
        lost: dict[int, _Replica | None] = dict(self._active)
        for replica in list(self._retiring.values()):
            self._forget(replica)
        self._active.clear()
        for index in range(self.wanted):
            handle = await self.backend.start_replica(self._spec, index)
            old = lost.pop(index, None)
            if old is None:
                self._active[index] = _Replica(index=index, handle=handle)
                continue
            old.replaced(handle)  # its counters and restarts carry over
            self._active[index] = old
            self._restarted(index)
        for replica in filter(None, lost.values()):  # indices beyond the wanted count
            self._retired_done += replica.done
            self._retired_failed += replica.failed
        self._report()

    async def stop(self, grace: float) -> PoolSnapshot:
        """Stop supervising and stop every replica gracefully; the last snapshot."""
        self.state = STOPPING
        self._stopping.set()
        await cancel_and_wait(self._task)
        async with self._lock:
            await self._stop_all(grace)
            self.wanted = 0
            self.state = STOPPED
        self._observer.removed(self.name, self.config.worker.room, self.config.worker.queue)
        return self.snapshot()

    async def scale(self, scaling: ScalingConfig) -> None:
        """Apply new scaling settings now (one reconcile pass)."""
        self.config = dataclasses.replace(self.config, scaling=scaling)
        await self.reconcile()

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.reconcile()
            except Exception:
                logger.exception("pool %s: supervision pass failed", self.name)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._timing.interval)

    async def reconcile(self) -> None:
        """One pass: health, restarts and replacements, autoscaling, resizing, metrics."""
        async with self._lock:
            if self._stopping.is_set():
                return
            await self._poll()
            await self._decide()
            await self._resize()
            self._report()

    async def _poll(self) -> None:
        replicas = list(self._active.values())
        statuses = await asyncio.gather(
            *(self._status(r.handle) for r in replicas))
        for replica, status in zip(replicas, statuses, strict=True):
            self._forward_observations(status)
            if status.state == DEAD and not await self.backend.alive():
                replica.observe(ReplicaStatus(state=RESTARTING))  # the watchdog's to mend
            elif status.state == DEAD:
                logger.warning("pool %s replica %d is gone; replacing it", self.name,
                               replica.index)
                replica.replaced(await self.backend.start_replica(self._spec, replica.index))
                self._restarted(replica.index)
            elif replica.observe(status):
                logger.warning("pool %s replica %d restarted", self.name, replica.index)
                self._restarted(replica.index)

    async def _status(self, handle: ReplicaHandle) -> ReplicaStatus:
        try:
            return await self.backend.replica_status(handle, timeout=self._timing.status_timeout)
        except Exception as err:
            logger.warning("pool %s: status of replica %d failed: %s", self.name, handle.index,
                           err)
            return ReplicaStatus(state=RESTARTING)

    def _forward_observations(self, status: ReplicaStatus) -> None:
        """Jobs and LLM tokens the replica recorded since its last status, to the observer
        (so the server's /metrics carries what pool actors do)."""
        if not (status.jobs or status.tokens or status.retries):
            return
        try:
            self._observer.worker_activity(self.name, self.config.worker.room,
                                           self.config.worker.queue, jobs=status.jobs,
                                           tokens=status.tokens, retries=status.retries)
        except Exception:
            logger.exception("pool observer failed")

    def _restarted(self, index: int) -> None:
        worker = self.config.worker
        self._observer.restarted(self.name, worker.room, worker.queue, index)

    async def _decide(self) -> None:
        scaling = self.config.scaling
        if not scaling.autoscaled:
            self.wanted = scaling.replicas
            return
        try:
            load = await self._load(self.config.worker.room, self.config.worker.queue)
        except Exception as err:
            logger.warning("pool %s: cannot read the queue's backlog: %s", self.name, err)
            return
        decision = desired_replicas(
            load.ready, load.in_flight, self.wanted, min=scaling.min_replicas,
            max=scaling.max_replicas, target_backlog=scaling.target_backlog,
            cooldown=scaling.cooldown_seconds, last_high_at=self._last_high_at,
            now=self._clock())
        if decision.replicas != self.wanted:
            logger.info("pool %s: %d -> %d replicas (ready %d, in flight %d)", self.name,
                        self.wanted, decision.replicas, load.ready, load.in_flight)
        self.wanted, self._last_high_at = decision

    async def _initial_wanted(self) -> int:
        scaling = self.config.scaling
        if not scaling.autoscaled:
            return scaling.replicas
        self.wanted = scaling.min_replicas
        try:
            await self._decide()
        except Exception:
            logger.exception("pool %s: first autoscaling decision failed", self.name)
        return self.wanted

    async def _resize(self) -> None:
        while len(self._active) < self.wanted:
            taken = set(self._active) | set(self._retiring)
            index = next(i for i in range(len(taken) + 1) if i not in taken)
            await self._start_replica(index)
        surplus = sorted(self._active, reverse=True)[: max(0, len(self._active) - self.wanted)]
        for index in surplus:
            self._retire(self._active.pop(index))

    async def _start_replica(self, index: int) -> None:
        handle = await self.backend.start_replica(self._spec, index)
        self._active[index] = _Replica(index=index, handle=handle)

    def _retire(self, replica: _Replica) -> None:
        self._retiring[replica.index] = replica

        async def retire() -> None:
            try:
                status = await self.backend.stop_replica(replica.handle,
                                                         self._timing.retire_grace)
                self._forward_observations(status)
                replica.observe(status)
            except Exception:
                logger.exception("pool %s: stopping replica %d failed", self.name, replica.index)
            self._forget(replica)

        task = asyncio.get_running_loop().create_task(
            retire(), name=f"meshq-pool-retire-{self.name}-{replica.index}")
        self._retire_tasks.add(task)
        task.add_done_callback(self._retire_tasks.discard)

    def _forget(self, replica: _Replica) -> None:
        """A retiring replica has stopped: its counters move into the pool's retired totals."""
        self._retiring.pop(replica.index, None)
        self._retired_done += replica.done
        self._retired_failed += replica.failed

    async def _wait_started(self) -> None:
        deadline = self._clock() + self._timing.start_timeout
        while True:
            await self._poll()
            states = {r.index: r.status for r in self._active.values()}
            failed = [(i, s.last_error) for i, s in states.items() if s.state == FAILED]
            if failed:
                index, error = failed[0]
                raise FailedPrecondition(f"pool {self.name}: replica {index} could not start "
                                         f"its worker: {error}")
            # UNAVAILABLE is waited through: the server may not serve yet (a re-created pool)
            refused = [(i, s.last_error) for i, s in states.items()
                       if s.state == SUBSCRIBING and s.last_error
                       and not s.last_error.startswith("UNAVAILABLE")]
            if refused:
                index, error = refused[0]
                worker = self.config.worker
                raise FailedPrecondition(f"pool {self.name}: replica {index} cannot subscribe to "
                                  f"{worker.room}/{worker.queue}: {error}")
            if all(s.state == RUNNING for s in states.values()):
                return
            if self._clock() >= deadline:
                raise FailedPrecondition(
                    f"pool {self.name}: replicas did not start within "
                    f"{self._timing.start_timeout:g}s (is the cluster short of CPUs? each "
                    f"replica asks for {self.config.cpus_per_actor:g})")
            await asyncio.sleep(0.05)

    async def _stop_all(self, grace: float) -> None:
        replicas = list(self._active.values())
        self._active.clear()
        for replica in replicas:
            self._retiring[replica.index] = replica
        results = await asyncio.gather(
            *(self.backend.stop_replica(r.handle, grace) for r in replicas),
            return_exceptions=True)
        for replica, result in zip(replicas, results, strict=True):
            if isinstance(result, ReplicaStatus):
                self._forward_observations(result)
                replica.observe(result)
            elif isinstance(result, BaseException):
                logger.warning("pool %s: stopping replica %d failed: %s", self.name,
                               replica.index, result)
            self._forget(replica)
        if self._retire_tasks:  # replicas already retiring get this stop's grace, no more
            await asyncio.wait(set(self._retire_tasks), timeout=grace + RETIRE_MARGIN)

    # -- reporting -------------------------------------------------------------------------

    def _report(self) -> None:
        snap = self.snapshot()
        worker = self.config.worker
        try:
            self._observer.replicas(self.name, worker.room, worker.queue, snap.replicas_wanted,
                                    snap.replicas_running)
            self._observer.jobs(self.name, worker.room, worker.queue,
                                in_flight=snap.jobs_in_flight, done=snap.jobs_done,
                                failed=snap.jobs_failed)
            self._observer.unsubscribed(
                self.name, worker.room, worker.queue,
                sum(1 for a in snap.actors if a.state == SUBSCRIBING))
        except Exception:
            logger.exception("pool observer failed")

    def snapshot(self) -> PoolSnapshot:
        actors = [r.snapshot() for r in self._active.values()]
        actors += [r.snapshot(STOPPING) for r in self._retiring.values()]
        actors.sort(key=lambda a: a.index)
        every = [*self._active.values(), *self._retiring.values()]
        return PoolSnapshot(
            config=self.config, state=self.state, backend=self.backend.name,
            replicas_wanted=self.wanted,
            replicas_running=sum(1 for r in self._active.values() if r.status.state == RUNNING),
            jobs_in_flight=sum(r.status.in_flight for r in every),
            jobs_done=self._retired_done + sum(r.done for r in every),
            jobs_failed=self._retired_failed + sum(r.failed for r in every),
            actors=tuple(actors),
        )
