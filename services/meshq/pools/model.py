"""Plain data of the pools domain: what a pool runs, how it scales, what it reports.

No gRPC and no Ray here: ``convert`` turns protos into these, backends receive them. Every
class is a frozen dataclass so a replica spec pickles cleanly into a Ray actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONCURRENCY = 1  # jobs per replica when the request says 0
DEFAULT_CPUS = 0.25  # CPUs an actor reserves when the request says 0 (LLM work is I/O)
DEFAULT_TARGET_BACKLOG = 10  # ready messages per replica the autoscaler aims for
DEFAULT_COOLDOWN = 30.0  # seconds the load must stay low before scaling down
DEFAULT_STOP_GRACE = 30.0  # seconds running jobs get on StopPool / scale-down
MAX_REPLICAS = 64  # most replicas one pool may have
MAX_CONCURRENCY = 1024  # most jobs one replica may run at once
MAX_CPUS = 64.0  # most CPUs one actor may reserve
MAX_COOLDOWN = 24 * 3600.0
MAX_GRACE = 3600.0

# Replica states, as ActorStatus.state reports them.
STARTING = "starting"
RUNNING = "running"
"""Up, with its subscription to the queue open."""
SUBSCRIBING = "subscribing"
"""Up, but without an open subscription (opening, or reopening after an error)."""
RESTARTING = "restarting"
STOPPING = "stopping"
STOPPED = "stopped"
FAILED = "failed"
DEAD = "dead"


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """A no-code LLM queue agent (``meshq process join``)."""

    agent_name: str
    rules: tuple[str, ...] = ()
    require_storage: bool = False
    require_web_search: bool = False
    model: str = ""
    """Empty: the adapter's default."""
    llm_api: str = "responses"
    """"responses" (OpenAI Responses API) or "chat" (Chat Completions only servers)."""


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """What each replica builds: a Worker subclass from an import path, or an agent."""

    room: str
    queue: str
    worker_class: str = ""
    """"module:Class" of a Worker subclass (set this or ``agent``)."""
    worker_args: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``worker_class``."""
    agent: AgentConfig | None = None
    concurrency: int = DEFAULT_CONCURRENCY


@dataclass(frozen=True, kw_only=True)
class ScalingConfig:
    """Fixed replicas (``max_replicas == 0``) or autoscaling between min and max."""

    replicas: int = 1
    """Fixed replica count, used when max_replicas is 0."""
    min_replicas: int = 0
    max_replicas: int = 0
    """0: no autoscaling."""
    target_backlog: int = DEFAULT_TARGET_BACKLOG
    """Outstanding messages (ready + in flight) per replica the autoscaler aims for."""
    cooldown_seconds: float = DEFAULT_COOLDOWN

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas > 0


HIDDEN = "<hidden>"  # what replies show instead of an environment variable's value


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """What Ray ships to every replica (its ``runtime_env``)."""

    env: dict[str, str] = field(default_factory=dict)
    """Environment variables; values may be secrets: never logged, listed or exported."""
    working_dir: str = ""
    """A directory on the server's machine, or a remote zip URI."""
    py_modules: tuple[str, ...] = ()
    """Module paths on the server's machine, or remote zip URIs."""

    @property
    def empty(self) -> bool:
        return not (self.env or self.working_dir or self.py_modules)

    def runtime_env(self) -> dict[str, object]:
        """As Ray's ``runtime_env`` takes it."""
        env: dict[str, object] = {}
        if self.env:
            env["env_vars"] = dict(self.env)
        if self.working_dir:
            env["working_dir"] = self.working_dir
        if self.py_modules:
            env["py_modules"] = list(self.py_modules)
        return env

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return (f"RuntimeConfig(env={sorted(self.env)}, working_dir={self.working_dir!r}, "
                f"py_modules={self.py_modules!r})")


@dataclass(frozen=True, kw_only=True)
class PoolConfig:
    """A pool's settings, validated."""

    name: str
    worker: WorkerConfig
    scaling: ScalingConfig
    cpus_per_actor: float = DEFAULT_CPUS
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    @property
    def key(self) -> tuple[str, str]:
        """(room, name): pool names are unique within a room."""
        return (self.worker.room, self.name)


@dataclass(frozen=True, kw_only=True)
class Connect:
    """How a replica reaches the queue service."""

    server_address: str
    token: str = field(default="", repr=False)
    tls_ca: str = ""
    """Path of the CA certificate on the replica's node ("" for plaintext)."""


@dataclass(frozen=True, kw_only=True)
class ReplicaSpec:
    """Everything one replica needs, in one picklable value."""

    pool: str
    worker: WorkerConfig
    connect: Connect
    cpus: float = DEFAULT_CPUS
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


@dataclass(frozen=True, kw_only=True)
class ReplicaStatus:
    """What a replica says about itself (counters reset when its process restarts)."""

    state: str
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    last_error: str = ""
    incarnation: str = ""
    """Changes every time the replica's process (re)builds its worker."""
    pid: int = 0
    jobs: tuple[tuple[str, float], ...] = ()
    """(outcome, seconds) of the jobs finished since the previous status call (for metrics)."""
    tokens: tuple[tuple[str, int, int], ...] = ()
    """(model, input, output) LLM tokens used since the previous status call."""
    retries: tuple[float, ...] = ()
    """Back-off seconds of each subscription retry since the previous status call."""


@dataclass(frozen=True, kw_only=True)
class ActorSnapshot:
    """One replica as GetPool shows it (counters summed over its restarts)."""

    index: int
    state: str
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    last_error: str = ""
    restarts: int = 0
    pid: int = 0


@dataclass(frozen=True, kw_only=True)
class PoolSnapshot:
    """A pool as ListPools / GetPool show it."""

    config: PoolConfig
    state: str
    backend: str
    replicas_wanted: int
    replicas_running: int
    jobs_in_flight: int
    jobs_done: int
    jobs_failed: int
    actors: tuple[ActorSnapshot, ...] = ()


@dataclass(frozen=True, kw_only=True)
class QueueLoad:
    """The queue numbers the autoscaler reads."""

    ready: int
    in_flight: int
