"""The supervisor keeps the wanted replicas alive, scales from the backlog, stops gracefully.

A scripted backend stands in for Ray / asyncio (the edge of the world); the clock is fake.
"""

from __future__ import annotations

import pytest
from fake_backend import FakeBackend

from meshq.core.errors import FailedPrecondition
from meshq.pools.model import (
    DEAD,
    RUNNING,
    STOPPED,
    Connect,
    PoolConfig,
    QueueLoad,
    ReplicaStatus,
    ScalingConfig,
    WorkerConfig,
)
from meshq.pools.observer import PoolObserver
from meshq.pools.supervisor import PoolSupervisor, SupervisorTiming

TIMING = SupervisorTiming(interval=3600.0, retire_grace=7.0, start_timeout=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Load:
    def __init__(self) -> None:
        self.ready = 0
        self.in_flight = 0

    async def __call__(self, room: str, queue: str) -> QueueLoad:
        return QueueLoad(ready=self.ready, in_flight=self.in_flight)


class Recorder(PoolObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def replicas(self, pool: str, room: str, queue: str, wanted: int, running: int) -> None:
        self.calls.append(("replicas", (wanted, running)))

    def restarted(self, pool: str, room: str, queue: str, index: int) -> None:
        self.calls.append(("restarted", (index,)))

    def removed(self, pool: str, room: str, queue: str) -> None:
        self.calls.append(("removed", ()))


def config(scaling: ScalingConfig) -> PoolConfig:
    return PoolConfig(name="p", worker=WorkerConfig(room="r", queue="q", worker_class="m:C"),
                      scaling=scaling)


def supervisor(scaling: ScalingConfig, backend: FakeBackend, load: Load | None = None,
               clock: Clock | None = None, observer: PoolObserver | None = None
               ) -> PoolSupervisor:
    return PoolSupervisor(config(scaling), backend, Connect(server_address="127.0.0.1:1"),
                          load=load or Load(), observer=observer, timing=TIMING,
                          clock=clock or Clock())


async def test_a_fixed_pool_runs_its_replicas_and_sums_their_counts() -> None:
    backend = FakeBackend()
    sup = supervisor(ScalingConfig(replicas=3), backend)
    await sup.start()
    backend.replicas[0].done, backend.replicas[2].failed = 5, 2
    await sup.reconcile()
    snap = sup.snapshot()
    assert (snap.replicas_wanted, snap.replicas_running, snap.jobs_done, snap.jobs_failed) == (
        3, 3, 5, 2)
    assert [a.index for a in snap.actors] == [0, 1, 2]
    await sup.stop(grace=1.0)


async def test_a_dead_replica_is_replaced_and_a_restarted_one_keeps_its_counts() -> None:
    backend, observer = FakeBackend(), Recorder()
    sup = supervisor(ScalingConfig(replicas=2), backend, observer=observer)
    await sup.start()
    first, second = backend.replicas
    first.done, second.done = 4, 6
    await sup.reconcile()

    # When replica 0 is gone for good and replica 1's process restarts (counters reset)
    first.state = DEAD
    second.restart()
    second.done = 1
    await sup.reconcile()

    # Then replica 0 is replaced at the same index, both count one restart, no count is lost
    snap = sup.snapshot()
    assert len(backend.live()) == 2 and backend.replicas[2].index == 0
    assert {a.index: a.restarts for a in snap.actors} == {0: 1, 1: 1}
    assert snap.jobs_done == 4 + 6 + 1
    assert ("restarted", (0,)) in observer.calls and ("restarted", (1,)) in observer.calls
    await sup.stop(grace=1.0)
    assert observer.calls[-1] == ("removed", ())


async def test_the_backlog_scales_up_at_once_and_down_after_the_cool_down() -> None:
    backend, load, clock = FakeBackend(), Load(), Clock()
    sup = supervisor(ScalingConfig(min_replicas=1, max_replicas=4, target_backlog=50,
                                   cooldown_seconds=30.0), backend, load, clock)
    await sup.start()
    assert len(backend.live()) == 1

    # When a backlog of 500 appears
    load.ready = 500
    await sup.reconcile()
    assert sup.wanted == 4 and len(backend.live()) == 4

    # When the queue drains, nothing changes inside the cool-down
    load.ready = 0
    clock.now += 29.0
    await sup.reconcile()
    assert len(backend.live()) == 4

    # Then after the cool-down the pool returns to min, retiring the highest indices gracefully
    clock.now += 31.0
    await sup.reconcile()
    await sup.stop(grace=1.0)
    retired = sorted(r.index for r in backend.replicas if r.stopped_with == 7.0)
    assert retired == [1, 2, 3]
    assert sup.snapshot().state == STOPPED


async def test_scale_to_zero_and_back() -> None:
    backend, load, clock = FakeBackend(), Load(), Clock()
    sup = supervisor(ScalingConfig(min_replicas=0, max_replicas=2, target_backlog=10,
                                   cooldown_seconds=0.0), backend, load, clock)
    await sup.start()
    assert sup.wanted == 0 and backend.replicas == []
    load.ready = 1
    await sup.reconcile()
    assert len(backend.live()) == 1
    load.ready = 0
    clock.now += 1
    await sup.reconcile()
    assert sup.wanted == 0
    await sup.stop(grace=0.5)
    assert backend.live() == []


async def test_scale_switches_between_fixed_and_autoscaled() -> None:
    backend, load = FakeBackend(), Load()
    sup = supervisor(ScalingConfig(replicas=1), backend, load)
    await sup.start()
    await sup.scale(ScalingConfig(replicas=3))
    assert len(backend.live()) == 3
    load.ready = 1000
    await sup.scale(ScalingConfig(min_replicas=1, max_replicas=5, target_backlog=100))
    assert len(backend.live()) == 5
    await sup.stop(grace=1.0)


async def test_a_replica_that_cannot_build_its_worker_fails_the_start_and_leaves_nothing() -> None:
    backend = FakeBackend(fail_start=True)
    sup = supervisor(ScalingConfig(replicas=2), backend)
    with pytest.raises(FailedPrecondition, match="could not start its worker: boom"):
        await sup.start()
    assert backend.live() == [] and len(backend.replicas) == 2
    assert sup.snapshot().state == STOPPED


async def test_stop_gives_every_replica_the_grace() -> None:
    backend = FakeBackend()
    sup = supervisor(ScalingConfig(replicas=2), backend)
    await sup.start()
    snap = await sup.stop(grace=12.5)
    assert [r.stopped_with for r in backend.replicas] == [12.5, 12.5]
    assert snap.state == STOPPED and snap.replicas_wanted == 0
    assert all(r.state != RUNNING for r in backend.replicas)


async def test_a_stop_whose_answer_is_lost_keeps_the_counts_last_reported() -> None:
    # Given a replica that reported 3 jobs done
    backend = FakeBackend()
    sup = supervisor(ScalingConfig(replicas=1), backend)
    await sup.start()
    backend.replicas[0].done = 3
    await sup.reconcile()

    # When its stop answers with no status of its own (the actor was gone, or timed out)
    async def lost(handle: object, grace: float) -> ReplicaStatus:
        return ReplicaStatus(state=DEAD)

    backend.stop_replica = lost  # type: ignore[method-assign]
    snap = await sup.stop(grace=1.0)

    # Then the pool still counts the 3 jobs
    assert snap.jobs_done == 3


async def test_the_watchdog_restarts_a_dead_backend_and_recreates_every_pool() -> None:

    from meshq.pools.watchdog import BackendWatchdog

    class Mortal(FakeBackend):
        dead = False
        restarts = 0

        async def alive(self) -> bool:
            return not self.dead

        async def restart(self) -> None:
            self.restarts += 1
            self.dead = False
            for replica in self.replicas:  # everything ran on it
                replica.state = DEAD

    class Count(Recorder):
        def backend_restarted(self, backend: str) -> None:
            self.calls.append(("backend_restarted", (backend,)))

    # Given a pool of 2 replicas that did 3 jobs, on a backend that dies
    backend, observer = Mortal(), Count()
    sup = supervisor(ScalingConfig(replicas=2), backend, observer=observer)
    await sup.start()
    backend.replicas[0].done = 3
    await sup.reconcile()
    watchdog = BackendWatchdog(backend=lambda: backend, supervisors=lambda: [sup],
                               observer=observer)
    assert await watchdog.check() is False
    backend.dead = True

    # When the watchdog checks
    assert await watchdog.check() is True

    # Then the backend restarted once, 2 new replicas run, counts and restarts carried over
    assert backend.restarts == 1 and ("backend_restarted", ("fake",)) in observer.calls
    assert len(backend.live()) == 2 and len(backend.replicas) == 4
    snap = sup.snapshot()
    assert snap.jobs_done == 3 and [a.restarts for a in snap.actors] == [1, 1]
    await sup.stop(grace=0.1)
