from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentSpec(_message.Message):
    __slots__ = ("agent_name", "rules", "require_storage", "require_web_search", "model", "llm_api")
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_STORAGE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_WEB_SEARCH_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LLM_API_FIELD_NUMBER: _ClassVar[int]
    agent_name: str
    rules: _containers.RepeatedScalarFieldContainer[str]
    require_storage: bool
    require_web_search: bool
    model: str
    llm_api: str
    def __init__(self, agent_name: _Optional[str] = ..., rules: _Optional[_Iterable[str]] = ..., require_storage: _Optional[bool] = ..., require_web_search: _Optional[bool] = ..., model: _Optional[str] = ..., llm_api: _Optional[str] = ...) -> None: ...

class PoolSpec(_message.Message):
    __slots__ = ("name", "room", "queue", "agent", "worker_class", "worker_args_json", "replicas", "min_replicas", "max_replicas", "target_backlog", "concurrency", "cpus_per_actor", "cooldown_seconds", "env", "working_dir", "py_modules")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    WORKER_CLASS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MIN_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MAX_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    TARGET_BACKLOG_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    CPUS_PER_ACTOR_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    PY_MODULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    room: str
    queue: str
    agent: AgentSpec
    worker_class: str
    worker_args_json: str
    replicas: int
    min_replicas: int
    max_replicas: int
    target_backlog: int
    concurrency: int
    cpus_per_actor: float
    cooldown_seconds: float
    env: _containers.ScalarMap[str, str]
    working_dir: str
    py_modules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., room: _Optional[str] = ..., queue: _Optional[str] = ..., agent: _Optional[_Union[AgentSpec, _Mapping]] = ..., worker_class: _Optional[str] = ..., worker_args_json: _Optional[str] = ..., replicas: _Optional[int] = ..., min_replicas: _Optional[int] = ..., max_replicas: _Optional[int] = ..., target_backlog: _Optional[int] = ..., concurrency: _Optional[int] = ..., cpus_per_actor: _Optional[float] = ..., cooldown_seconds: _Optional[float] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., py_modules: _Optional[_Iterable[str]] = ...) -> None: ...

class ActorStatus(_message.Message):
    __slots__ = ("index", "state", "in_flight", "done", "failed", "last_error", "restarts")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    index: int
    state: str
    in_flight: int
    done: int
    failed: int
    last_error: str
    restarts: int
    def __init__(self, index: _Optional[int] = ..., state: _Optional[str] = ..., in_flight: _Optional[int] = ..., done: _Optional[int] = ..., failed: _Optional[int] = ..., last_error: _Optional[str] = ..., restarts: _Optional[int] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("spec", "replicas_wanted", "replicas_running", "jobs_in_flight", "jobs_done", "jobs_failed", "actors", "state", "backend")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_WANTED_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    JOBS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    JOBS_DONE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FAILED_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    spec: PoolSpec
    replicas_wanted: int
    replicas_running: int
    jobs_in_flight: int
    jobs_done: int
    jobs_failed: int
    actors: _containers.RepeatedCompositeFieldContainer[ActorStatus]
    state: str
    backend: str
    def __init__(self, spec: _Optional[_Union[PoolSpec, _Mapping]] = ..., replicas_wanted: _Optional[int] = ..., replicas_running: _Optional[int] = ..., jobs_in_flight: _Optional[int] = ..., jobs_done: _Optional[int] = ..., jobs_failed: _Optional[int] = ..., actors: _Optional[_Iterable[_Union[ActorStatus, _Mapping]]] = ..., state: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...

class StartPoolRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: PoolSpec
    def __init__(self, spec: _Optional[_Union[PoolSpec, _Mapping]] = ...) -> None: ...

class StartPoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class ListPoolsRequest(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: str
    def __init__(self, room: _Optional[str] = ...) -> None: ...

class ListPoolsResponse(_message.Message):
    __slots__ = ("pools",)
    POOLS_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[Pool]
    def __init__(self, pools: _Optional[_Iterable[_Union[Pool, _Mapping]]] = ...) -> None: ...

class GetPoolRequest(_message.Message):
    __slots__ = ("name", "room")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    name: str
    room: str
    def __init__(self, name: _Optional[str] = ..., room: _Optional[str] = ...) -> None: ...

class GetPoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class ScalePoolRequest(_message.Message):
    __slots__ = ("name", "replicas", "min_replicas", "max_replicas", "target_backlog", "room")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MIN_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MAX_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    TARGET_BACKLOG_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    name: str
    replicas: int
    min_replicas: int
    max_replicas: int
    target_backlog: int
    room: str
    def __init__(self, name: _Optional[str] = ..., replicas: _Optional[int] = ..., min_replicas: _Optional[int] = ..., max_replicas: _Optional[int] = ..., target_backlog: _Optional[int] = ..., room: _Optional[str] = ...) -> None: ...

class ScalePoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class StopPoolRequest(_message.Message):
    __slots__ = ("name", "grace_seconds", "room")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    name: str
    grace_seconds: float
    room: str
    def __init__(self, name: _Optional[str] = ..., grace_seconds: _Optional[float] = ..., room: _Optional[str] = ...) -> None: ...

class StopPoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...
