"""Proto <-> domain for the Workers service (the only place that knows both shapes)."""

from __future__ import annotations

from meshq.core.errors import InvalidArgument
from meshq.core.validation import check_name, check_seconds
from meshq.pools.model import (
    DEFAULT_CONCURRENCY,
    DEFAULT_COOLDOWN,
    DEFAULT_CPUS,
    DEFAULT_TARGET_BACKLOG,
    HIDDEN,
    MAX_COOLDOWN,
    AgentConfig,
    PoolConfig,
    PoolSnapshot,
    RuntimeConfig,
    ScalingConfig,
    WorkerConfig,
)
from meshq.pools.validate import (
    check_agent,
    check_concurrency,
    check_cpus,
    check_llm_api,
    check_runtime,
    check_scaling,
    parse_worker_args,
)
from meshq.v1 import workers_pb2


def agent_from_proto(msg: workers_pb2.AgentSpec) -> AgentConfig:
    return check_agent(AgentConfig(
        agent_name=msg.agent_name, rules=tuple(msg.rules), require_storage=msg.require_storage,
        require_web_search=msg.require_web_search, model=msg.model,
        llm_api=check_llm_api(msg.llm_api)))


def scaling_from_proto(spec: workers_pb2.PoolSpec) -> ScalingConfig:
    cooldown = check_seconds("cooldown_seconds", spec.cooldown_seconds, maximum=MAX_COOLDOWN)
    autoscaled = spec.max_replicas > 0
    if not autoscaled and spec.min_replicas:
        raise InvalidArgument("min_replicas needs max_replicas (autoscaling bounds go together)")
    return check_scaling(ScalingConfig(
        replicas=(spec.replicas or 1) if not autoscaled else 0,
        min_replicas=spec.min_replicas, max_replicas=spec.max_replicas,
        target_backlog=spec.target_backlog or DEFAULT_TARGET_BACKLOG,
        cooldown_seconds=cooldown or DEFAULT_COOLDOWN))


def pool_config_from_proto(spec: workers_pb2.PoolSpec) -> PoolConfig:
    """A validated ``PoolConfig``; defaults fill the zero fields as the proto documents."""
    if spec.name:
        check_name("spec.name", spec.name)
    check_name("spec.room", spec.room)
    check_name("spec.queue", spec.queue)
    has_agent = spec.HasField("agent") and bool(spec.agent.agent_name)
    if has_agent == bool(spec.worker_class):
        raise InvalidArgument("set exactly one of spec.agent (a no-code agent) and "
                              "spec.worker_class (\"module:Class\")")
    if has_agent and spec.worker_args_json:
        raise InvalidArgument("worker_args_json goes with worker_class, not with agent")
    worker = WorkerConfig(
        room=spec.room, queue=spec.queue, worker_class=spec.worker_class,
        worker_args=parse_worker_args(spec.worker_args_json),
        agent=agent_from_proto(spec.agent) if has_agent else None,
        concurrency=check_concurrency(spec.concurrency or DEFAULT_CONCURRENCY))
    runtime = check_runtime(RuntimeConfig(env=dict(spec.env), working_dir=spec.working_dir,
                                          py_modules=tuple(spec.py_modules)))
    return PoolConfig(name=spec.name, worker=worker, scaling=scaling_from_proto(spec),
                      cpus_per_actor=check_cpus(spec.cpus_per_actor or DEFAULT_CPUS),
                      runtime=runtime)


def pool_spec_to_proto(config: PoolConfig, *, reveal_env: bool = False
                       ) -> workers_pb2.PoolSpec:
    """The spec as replies show it: environment values read HIDDEN unless ``reveal_env``
    (the pool store, which must re-create the pool)."""
    import json

    worker, scaling = config.worker, config.scaling
    spec = workers_pb2.PoolSpec(
        name=config.name, room=worker.room, queue=worker.queue,
        worker_class=worker.worker_class,
        worker_args_json=json.dumps(worker.worker_args) if worker.worker_args else "",
        replicas=scaling.replicas, min_replicas=scaling.min_replicas,
        max_replicas=scaling.max_replicas, target_backlog=scaling.target_backlog,
        concurrency=worker.concurrency, cpus_per_actor=config.cpus_per_actor,
        cooldown_seconds=scaling.cooldown_seconds,
        env={k: (v if reveal_env else HIDDEN) for k, v in config.runtime.env.items()},
        working_dir=config.runtime.working_dir, py_modules=list(config.runtime.py_modules))
    if worker.agent is not None:
        agent = worker.agent
        spec.agent.CopyFrom(workers_pb2.AgentSpec(
            agent_name=agent.agent_name, rules=list(agent.rules),
            require_storage=agent.require_storage, require_web_search=agent.require_web_search,
            model=agent.model, llm_api=agent.llm_api))
    return spec


def pool_to_proto(snap: PoolSnapshot) -> workers_pb2.Pool:
    return workers_pb2.Pool(
        spec=pool_spec_to_proto(snap.config), replicas_wanted=snap.replicas_wanted,
        replicas_running=snap.replicas_running, jobs_in_flight=snap.jobs_in_flight,
        jobs_done=snap.jobs_done, jobs_failed=snap.jobs_failed, state=snap.state,
        backend=snap.backend,
        actors=[workers_pb2.ActorStatus(
            index=a.index, state=a.state, in_flight=a.in_flight, done=a.done, failed=a.failed,
            last_error=a.last_error, restarts=a.restarts) for a in snap.actors])
