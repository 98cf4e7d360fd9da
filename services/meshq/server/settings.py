"""Typed settings of one server process: a frozen config per service, built once.

The CLI entry point (``meshq.cli.serve.make_config``) builds a ``Settings`` from the command
line; tests and embedders build one directly. It travels in ``StackConfig.settings`` and then
``StackContext.settings``; each component's ``build_component`` reads only its own part
(``ctx.settings.queue``, ``ctx.settings.pools``, ...). Every default lives here, as a field
default (the named constants it points at stay beside the code they bound).

An observer left ``None`` is filled in by the runner (``meshq.server.runner.open_stack``)
with the Prometheus one on the process's registry; one given explicitly is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshq.queue.model import QueueLimits
from meshq.scheduler.engine import MAX_TASKS_PER_ROOM, MISFIRE_GRACE
from meshq.security.interceptor import DEFAULT_MAX_STREAMS_PER_TOKEN
from meshq.storage.backend import DEFAULT_MAX_FILE_BYTES

if TYPE_CHECKING:
    from meshq.agents.observer import WorkerObserver
    from meshq.pools.observer import PoolObserver
    from meshq.pools.store import PoolStore, SupervisorLease
    from meshq.pools.supervisor import SupervisorTiming
    from meshq.queue.observer import QueueObserver
    from meshq.scheduler.observer import SchedulerObserver

POOL_BACKEND = "ray"  # where pool workers run unless --pool-backend says otherwise
POOL_STORE = "sqlite"  # pools.db in the data dir: pools survive a restart
DATABASE_POOL_SIZE = 20  # connections of one replica's shared PostgreSQL pool at most
POOL_WATCHDOG_INTERVAL = 2.0  # seconds between checks of a local Ray's daemons


@dataclass(frozen=True, kw_only=True)
class QueueConfig:
    """The queue service (``meshq.queue.component``)."""

    limits: QueueLimits = field(default_factory=QueueLimits)
    """Message size, batch size, queues per room, depth (the ``--max-*`` flags)."""
    observer: QueueObserver | None = None
    """Told of sends, deliveries and settles; None: the runner's Prometheus observer."""


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """The scheduler service (``meshq.scheduler.component``)."""

    observer: SchedulerObserver | None = None
    """Told of fires and task counts; None: the runner's Prometheus observer."""
    misfire_grace_seconds: float = MISFIRE_GRACE
    """How late an instant may fire and still count as on time."""
    max_tasks_per_room: int = MAX_TASKS_PER_ROOM
    """Most scheduled tasks in one room."""


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    """The file storage service (``meshq.storage.component``)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    """A file larger than this is refused mid-stream."""


@dataclass(frozen=True, kw_only=True)
class PoolsConfig:
    """The workers service (``meshq.pools.component``; docs/pools.md, Settings)."""

    backend: str = POOL_BACKEND
    """"ray" or "asyncio" (``--pool-backend``)."""
    ray_address: str = ""
    """"" / "local": start a local Ray; "host:port" or "auto": join a cluster."""
    ray_runtime_env: dict[str, Any] | None = None
    """``runtime_env`` for ``ray.init``."""
    server_address: str = ""
    """host:port actors dial to reach the queue service; "": the stack's own address."""
    observer: PoolObserver | None = None
    """Told of replicas and jobs; None: the runner's Prometheus observer."""
    timing: SupervisorTiming | None = None
    """How often and how patiently supervisors work; None: ``SupervisorTiming()``."""
    store: str | PoolStore | None = None
    """"sqlite" (``pools.db`` in the data dir), "memory", or a ``PoolStore``; None: the
    database's with ``database.url``, else POOL_STORE."""
    lease: SupervisorLease | None = None
    """Whether this replica supervises the stored pools; None: the database's lease with
    ``database.url``, else always."""
    watchdog_interval: float = POOL_WATCHDOG_INTERVAL
    """Seconds between checks of a local Ray's daemons."""


@dataclass(frozen=True, kw_only=True)
class SecurityConfig:
    """The auth interceptor in front of every service (``meshq.security.interceptor``)."""

    max_streams_per_token: int = DEFAULT_MAX_STREAMS_PER_TOKEN
    """Most open streams (Subscribe, WriteFile, ReadFile) per token."""
    api_key: str | None = None
    """The shared API key every replica verifies tokens with (``--api-key-file``), which also
    signs each pool's own token; None: the data dir's own key."""


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Observers of parts that are not a component of their own."""

    worker_observer: WorkerObserver | None = None
    """For in-process Workers on this process's registry; None: the runner's Prometheus one."""


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """The PostgreSQL tier (docs/postgres.md) instead of SQLite files in the data dir."""

    url: str | None = None
    """``postgresql://…`` (``--database-url``); None: every store is in the data dir."""
    pool_size: int = DATABASE_POOL_SIZE
    """Most connections in this replica's shared pool."""
    replica_id: str | None = None
    """This replica's stable name (``--replica-id``); None: host name and data dir."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every service's settings; each component reads only its own field."""

    queue: QueueConfig = field(default_factory=QueueConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    pools: PoolsConfig = field(default_factory=PoolsConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
