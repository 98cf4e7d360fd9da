"""A scripted PoolBackend for supervisor unit tests: replicas are records the test drives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from meshq.pools.backend import PoolBackend, ReplicaHandle
from meshq.pools.model import DEAD, FAILED, RUNNING, STOPPED, ReplicaSpec, ReplicaStatus


@dataclass
class FakeReplica:
    index: int
    state: str = RUNNING
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    incarnation: str = field(default_factory=lambda: uuid.uuid4().hex)
    stopped_with: float | None = None

    def restart(self) -> None:
        """What Ray does after a crash: same actor, new process, counters from zero."""
        self.incarnation = uuid.uuid4().hex
        self.done = self.failed = self.in_flight = 0


class FakeBackend(PoolBackend):
    name = "fake"

    def __init__(self, *, fail_start: bool = False) -> None:
        self.replicas: list[FakeReplica] = []
        self.fail_start = fail_start

    def live(self) -> list[FakeReplica]:
        return [r for r in self.replicas if r.state not in (STOPPED, DEAD)]

    async def start_replica(self, spec: ReplicaSpec, index: int) -> ReplicaHandle:
        replica = FakeReplica(index=index, state=FAILED if self.fail_start else RUNNING)
        self.replicas.append(replica)
        return ReplicaHandle(index, replica)

    async def stop_replica(self, handle: ReplicaHandle, grace: float) -> ReplicaStatus:
        replica: FakeReplica = handle.ref
        replica.stopped_with = grace
        if replica.state != DEAD:
            replica.state = STOPPED
        return self._status(replica)

    async def replica_status(self, handle: ReplicaHandle, *, timeout: float) -> ReplicaStatus:
        return self._status(handle.ref)

    @staticmethod
    def _status(replica: FakeReplica) -> ReplicaStatus:
        return ReplicaStatus(state=replica.state, done=replica.done, failed=replica.failed,
                             in_flight=replica.in_flight, incarnation=replica.incarnation,
                             last_error="boom" if replica.state == FAILED else "")
