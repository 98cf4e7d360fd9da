from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MisfirePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MISFIRE_POLICY_UNSPECIFIED: _ClassVar[MisfirePolicy]
    MISFIRE_POLICY_SKIP: _ClassVar[MisfirePolicy]
    MISFIRE_POLICY_LATEST: _ClassVar[MisfirePolicy]
    MISFIRE_POLICY_ALL: _ClassVar[MisfirePolicy]

class RunOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_OUTCOME_UNSPECIFIED: _ClassVar[RunOutcome]
    RUN_OUTCOME_ENQUEUED: _ClassVar[RunOutcome]
    RUN_OUTCOME_SKIPPED_INACTIVE: _ClassVar[RunOutcome]
    RUN_OUTCOME_SKIPPED_MISFIRE: _ClassVar[RunOutcome]
    RUN_OUTCOME_SKIPPED_PENDING: _ClassVar[RunOutcome]
    RUN_OUTCOME_FAILED: _ClassVar[RunOutcome]
MISFIRE_POLICY_UNSPECIFIED: MisfirePolicy
MISFIRE_POLICY_SKIP: MisfirePolicy
MISFIRE_POLICY_LATEST: MisfirePolicy
MISFIRE_POLICY_ALL: MisfirePolicy
RUN_OUTCOME_UNSPECIFIED: RunOutcome
RUN_OUTCOME_ENQUEUED: RunOutcome
RUN_OUTCOME_SKIPPED_INACTIVE: RunOutcome
RUN_OUTCOME_SKIPPED_MISFIRE: RunOutcome
RUN_OUTCOME_SKIPPED_PENDING: RunOutcome
RUN_OUTCOME_FAILED: RunOutcome

class TaskSpec(_message.Message):
    __slots__ = ("room", "queue", "schedule", "timezone", "payload_json", "active", "once", "name", "annotations", "catchup_window_seconds", "misfire_policy", "misfire_cap", "jitter_seconds", "skip_if_pending")
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ONCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    CATCHUP_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_POLICY_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_CAP_FIELD_NUMBER: _ClassVar[int]
    JITTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SKIP_IF_PENDING_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    schedule: str
    timezone: str
    payload_json: str
    active: bool
    once: bool
    name: str
    annotations: _containers.ScalarMap[str, str]
    catchup_window_seconds: float
    misfire_policy: MisfirePolicy
    misfire_cap: int
    jitter_seconds: float
    skip_if_pending: bool
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., schedule: _Optional[str] = ..., timezone: _Optional[str] = ..., payload_json: _Optional[str] = ..., active: _Optional[bool] = ..., once: _Optional[bool] = ..., name: _Optional[str] = ..., annotations: _Optional[_Mapping[str, str]] = ..., catchup_window_seconds: _Optional[float] = ..., misfire_policy: _Optional[_Union[MisfirePolicy, str]] = ..., misfire_cap: _Optional[int] = ..., jitter_seconds: _Optional[float] = ..., skip_if_pending: _Optional[bool] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "spec", "created_at_unix_ms", "next_fire_unix_ms", "last_outcome", "last_fire_unix_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIRE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: TaskSpec
    created_at_unix_ms: int
    next_fire_unix_ms: int
    last_outcome: RunOutcome
    last_fire_unix_ms: int
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[TaskSpec, _Mapping]] = ..., created_at_unix_ms: _Optional[int] = ..., next_fire_unix_ms: _Optional[int] = ..., last_outcome: _Optional[_Union[RunOutcome, str]] = ..., last_fire_unix_ms: _Optional[int] = ...) -> None: ...

class TaskRun(_message.Message):
    __slots__ = ("task_id", "scheduled_unix_ms", "fired_at_unix_ms", "message_id", "outcome", "error", "manual")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FIRED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MANUAL_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    scheduled_unix_ms: int
    fired_at_unix_ms: int
    message_id: str
    outcome: RunOutcome
    error: str
    manual: bool
    def __init__(self, task_id: _Optional[str] = ..., scheduled_unix_ms: _Optional[int] = ..., fired_at_unix_ms: _Optional[int] = ..., message_id: _Optional[str] = ..., outcome: _Optional[_Union[RunOutcome, str]] = ..., error: _Optional[str] = ..., manual: _Optional[bool] = ...) -> None: ...

class AddTaskRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: TaskSpec
    def __init__(self, spec: _Optional[_Union[TaskSpec, _Mapping]] = ...) -> None: ...

class AddTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("room", "active_only")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    room: str
    active_only: bool
    def __init__(self, room: _Optional[str] = ..., active_only: _Optional[bool] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ...) -> None: ...

class UpdateTaskRequest(_message.Message):
    __slots__ = ("task_id", "queue", "schedule", "timezone", "payload_json", "active", "name", "catchup_window_seconds", "misfire_policy", "misfire_cap", "jitter_seconds", "skip_if_pending", "once")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATCHUP_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_POLICY_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_CAP_FIELD_NUMBER: _ClassVar[int]
    JITTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SKIP_IF_PENDING_FIELD_NUMBER: _ClassVar[int]
    ONCE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    queue: str
    schedule: str
    timezone: str
    payload_json: str
    active: bool
    name: str
    catchup_window_seconds: float
    misfire_policy: MisfirePolicy
    misfire_cap: int
    jitter_seconds: float
    skip_if_pending: bool
    once: bool
    def __init__(self, task_id: _Optional[str] = ..., queue: _Optional[str] = ..., schedule: _Optional[str] = ..., timezone: _Optional[str] = ..., payload_json: _Optional[str] = ..., active: _Optional[bool] = ..., name: _Optional[str] = ..., catchup_window_seconds: _Optional[float] = ..., misfire_policy: _Optional[_Union[MisfirePolicy, str]] = ..., misfire_cap: _Optional[int] = ..., jitter_seconds: _Optional[float] = ..., skip_if_pending: _Optional[bool] = ..., once: _Optional[bool] = ...) -> None: ...

class UpdateTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class DeleteTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class DeleteTaskResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TriggerTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class TriggerTaskResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: TaskRun
    def __init__(self, run: _Optional[_Union[TaskRun, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("task_id", "limit")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    limit: int
    def __init__(self, task_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[TaskRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[TaskRun, _Mapping]]] = ...) -> None: ...

class PreviewRequest(_message.Message):
    __slots__ = ("schedule", "timezone", "from_unix_ms", "count")
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    schedule: str
    timezone: str
    from_unix_ms: int
    count: int
    def __init__(self, schedule: _Optional[str] = ..., timezone: _Optional[str] = ..., from_unix_ms: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class PreviewResponse(_message.Message):
    __slots__ = ("instants_unix_ms", "instants_local", "stopped", "stopped_reason")
    INSTANTS_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    INSTANTS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_REASON_FIELD_NUMBER: _ClassVar[int]
    instants_unix_ms: _containers.RepeatedScalarFieldContainer[int]
    instants_local: _containers.RepeatedScalarFieldContainer[str]
    stopped: bool
    stopped_reason: str
    def __init__(self, instants_unix_ms: _Optional[_Iterable[int]] = ..., instants_local: _Optional[_Iterable[str]] = ..., stopped: _Optional[bool] = ..., stopped_reason: _Optional[str] = ...) -> None: ...
