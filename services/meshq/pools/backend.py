"""The execution-backend interface: where a pool's replicas run (STYLE item 10).

``RayBackend`` runs each replica as a Ray actor (a process, anywhere in the cluster);
``AsyncioBackend`` runs each as an asyncio task in this process (unit tests, machines without
Ray). The supervisor only speaks this interface.
"""

from __future__ import annotations

import abc
from typing import Any

from meshq.pools.model import ReplicaSpec, ReplicaStatus


class ReplicaHandle:
    """An opaque reference to one started replica."""

    def __init__(self, index: int, ref: Any) -> None:
        self.index = index
        self.ref = ref

    def __repr__(self) -> str:
        return f"ReplicaHandle(index={self.index})"


class PoolBackend(abc.ABC):
    """Starts, stops and inspects replicas."""

    name: str = ""

    async def ensure_ready(self) -> None:
        """Connect to the execution substrate (e.g. ``ray.init``); raise FailedPrecondition if it
        cannot be reached. Called before the first replica starts; cheap once ready."""
        return None

    async def prepare(self, spec: ReplicaSpec) -> ReplicaSpec:
        """Make a pool's replica spec ready for this backend, once per pool start (e.g. ship
        its local code to the cluster); the spec every replica then gets."""
        return spec

    @abc.abstractmethod
    async def start_replica(self, spec: ReplicaSpec, index: int) -> ReplicaHandle:
        """Start one replica; return without waiting for its worker to connect."""

    @abc.abstractmethod
    async def stop_replica(self, handle: ReplicaHandle, grace: float) -> ReplicaStatus:
        """Stop taking work, let running jobs finish within ``grace`` seconds, hand back the
        rest, and release the replica. Returns its last status. Safe on a dead replica."""

    @abc.abstractmethod
    async def replica_status(self, handle: ReplicaHandle, *, timeout: float) -> ReplicaStatus:
        """The replica's status; state RESTARTING if it does not answer within ``timeout``,
        DEAD if it is gone for good."""

    async def alive(self) -> bool:
        """False when the substrate this backend started has died (every replica with it)."""
        return True

    async def restart(self) -> None:
        """Start the dead substrate again (only called after ``alive()`` said False)."""
        raise NotImplementedError(f"the {self.name} backend cannot restart")

    @property
    def started(self) -> bool:
        """True once ``ensure_ready`` succeeded (nothing to watch before)."""
        return True

    async def close(self) -> None:
        """Release backend resources (replicas are stopped by their supervisors first)."""
        return None
