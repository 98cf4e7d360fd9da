"""Worker pools: start, list, inspect, scale and stop pools of workers (Ray actors).

``PoolsClient(conn)``, or ``MeshqClient().pools``. Every call has a deadline: the connection's
timeout, or longer where the server legitimately works longer (StartPool waits for its first
replicas; StopPool waits for the grace).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meshq.api.connection import Connection
from meshq.v1 import workers_pb2, workers_pb2_grpc

START_TIMEOUT = 150.0  # seconds StartPool may take: actors start ~0.3 s apart, Ray may be joined
STOP_MARGIN = 15.0  # seconds beyond the grace StopPool may take


@dataclass(frozen=True)
class ActorInfo:
    """One replica of a pool."""

    index: int
    state: str
    in_flight: int
    done: int
    failed: int
    last_error: str
    restarts: int


@dataclass(frozen=True)
class PoolInfo:
    """A pool, its scaling settings and its counts."""

    name: str
    room: str
    queue: str
    state: str
    backend: str
    replicas_wanted: int
    replicas_running: int
    jobs_in_flight: int
    jobs_done: int
    jobs_failed: int
    worker: str
    """"module:Class", or "agent:<agent name>"."""
    replicas: int
    min_replicas: int
    max_replicas: int
    target_backlog: int
    concurrency: int
    cpus_per_actor: float
    actors: tuple[ActorInfo, ...] = field(default=())
    env: tuple[str, ...] = ()
    """Names of the replicas' environment variables (values are never returned)."""
    working_dir: str = ""
    py_modules: tuple[str, ...] = ()
    llm_api: str = ""
    """An agent pool's LLM API: "responses" or "chat" ("" for Worker-class pools)."""

    @classmethod
    def from_proto(cls, pool: workers_pb2.Pool) -> PoolInfo:
        spec = pool.spec
        worker = spec.worker_class or f"agent:{spec.agent.agent_name}"
        return cls(
            name=spec.name, room=spec.room, queue=spec.queue, state=pool.state,
            backend=pool.backend, replicas_wanted=pool.replicas_wanted,
            replicas_running=pool.replicas_running, jobs_in_flight=pool.jobs_in_flight,
            jobs_done=pool.jobs_done, jobs_failed=pool.jobs_failed, worker=worker,
            replicas=spec.replicas, min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas, target_backlog=spec.target_backlog,
            concurrency=spec.concurrency, cpus_per_actor=spec.cpus_per_actor,
            actors=tuple(ActorInfo(index=a.index, state=a.state, in_flight=a.in_flight,
                                   done=a.done, failed=a.failed, last_error=a.last_error,
                                   restarts=a.restarts) for a in pool.actors),
            env=tuple(sorted(spec.env)), working_dir=spec.working_dir,
            py_modules=tuple(spec.py_modules),
            llm_api=spec.agent.llm_api if spec.agent.agent_name else "")

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas > 0


class PoolsClient:
    """The Workers service."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def _stub(self) -> workers_pb2_grpc.WorkerServiceStub:
        return self._conn.stub(workers_pb2_grpc.WorkerServiceStub)

    def _call(self, timeout: float | None = None) -> dict[str, Any]:
        return self._conn.call_options(max(timeout or 0.0, self._conn.timeout))

    async def start(
        self, *, room: str, queue: str, worker_class: str = "",
        worker_args: dict[str, Any] | None = None, agent_name: str = "",
        rules: Sequence[str] = (), require_storage: bool = False,
        require_web_search: bool = False, model: str = "", name: str = "",
        replicas: int = 0, min_replicas: int = 0, max_replicas: int = 0,
        target_backlog: int = 0, concurrency: int = 0, cpus_per_actor: float = 0.0,
        cooldown_seconds: float = 0.0, llm_api: str = "",
        env: dict[str, str] | None = None, working_dir: str = "",
        py_modules: Sequence[str] = (),
    ) -> PoolInfo:
        """Start a pool of ``worker_class`` (with ``worker_args``) or of a no-code agent.

        Fixed size with ``replicas``; autoscaled with ``max_replicas`` (and ``min_replicas``,
        ``target_backlog``). Zero values take the server's defaults. ``llm_api`` "chat" makes
        an agent speak Chat Completions (servers without the Responses API). ``env``,
        ``working_dir`` and ``py_modules`` are shipped to every replica by Ray's runtime_env
        (paths as the server's machine sees them, or remote zip URIs).
        """
        spec = workers_pb2.PoolSpec(
            name=name, room=room, queue=queue, worker_class=worker_class,
            worker_args_json=json.dumps(worker_args) if worker_args else "",
            replicas=replicas, min_replicas=min_replicas, max_replicas=max_replicas,
            target_backlog=target_backlog, concurrency=concurrency,
            cpus_per_actor=cpus_per_actor, cooldown_seconds=cooldown_seconds,
            env=dict(env or {}), working_dir=working_dir, py_modules=list(py_modules))
        if agent_name:
            spec.agent.CopyFrom(workers_pb2.AgentSpec(
                agent_name=agent_name, rules=list(rules), require_storage=require_storage,
                require_web_search=require_web_search, model=model, llm_api=llm_api))
        response = await self._stub.StartPool(workers_pb2.StartPoolRequest(spec=spec),
                                              **self._call(START_TIMEOUT))
        return PoolInfo.from_proto(response.pool)

    async def list(self, room: str = "") -> list[PoolInfo]:
        response = await self._stub.ListPools(workers_pb2.ListPoolsRequest(room=room),
                                              **self._call())
        return [PoolInfo.from_proto(p) for p in response.pools]

    async def get(self, name: str, *, room: str = "") -> PoolInfo:
        """The pool ``name`` (in ``room``; empty: the one room you can see with that name)."""
        response = await self._stub.GetPool(workers_pb2.GetPoolRequest(name=name, room=room),
                                            **self._call())
        return PoolInfo.from_proto(response.pool)

    async def scale(self, name: str, *, room: str = "", replicas: int | None = None,
                    min_replicas: int | None = None, max_replicas: int | None = None,
                    target_backlog: int | None = None) -> PoolInfo:
        """Fixed ``replicas`` (autoscaling off), or new autoscaling bounds / target."""
        request = workers_pb2.ScalePoolRequest(name=name, room=room)
        for key, value in (("replicas", replicas), ("min_replicas", min_replicas),
                           ("max_replicas", max_replicas), ("target_backlog", target_backlog)):
            if value is not None:
                setattr(request, key, value)
        response = await self._stub.ScalePool(request, **self._call(START_TIMEOUT))
        return PoolInfo.from_proto(response.pool)

    async def stop(self, name: str, *, room: str = "", grace: float = 0.0) -> PoolInfo:
        """Stop taking work; running jobs get ``grace`` seconds (0: 30), the rest go back."""
        request = workers_pb2.StopPoolRequest(name=name, room=room, grace_seconds=grace)
        response = await self._stub.StopPool(
            request, **self._call((grace or 30.0) + STOP_MARGIN))
        return PoolInfo.from_proto(response.pool)
