from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SettleOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTLE_OUTCOME_UNSPECIFIED: _ClassVar[SettleOutcome]
    SETTLE_OUTCOME_OK: _ClassVar[SettleOutcome]
    SETTLE_OUTCOME_STALE: _ClassVar[SettleOutcome]

class MessageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_STATE_UNSPECIFIED: _ClassVar[MessageState]
    MESSAGE_STATE_READY: _ClassVar[MessageState]
    MESSAGE_STATE_DELAYED: _ClassVar[MessageState]
    MESSAGE_STATE_IN_FLIGHT: _ClassVar[MessageState]
    MESSAGE_STATE_GONE: _ClassVar[MessageState]
SETTLE_OUTCOME_UNSPECIFIED: SettleOutcome
SETTLE_OUTCOME_OK: SettleOutcome
SETTLE_OUTCOME_STALE: SettleOutcome
MESSAGE_STATE_UNSPECIFIED: MessageState
MESSAGE_STATE_READY: MessageState
MESSAGE_STATE_DELAYED: MessageState
MESSAGE_STATE_IN_FLIGHT: MessageState
MESSAGE_STATE_GONE: MessageState

class OutgoingMessage(_message.Message):
    __slots__ = ("json", "headers", "delay_seconds", "dedup_id", "dedup_window_seconds", "priority", "key")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JSON_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEDUP_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUP_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    json: str
    headers: _containers.ScalarMap[str, str]
    delay_seconds: float
    dedup_id: str
    dedup_window_seconds: float
    priority: int
    key: str
    def __init__(self, json: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., delay_seconds: _Optional[float] = ..., dedup_id: _Optional[str] = ..., dedup_window_seconds: _Optional[float] = ..., priority: _Optional[int] = ..., key: _Optional[str] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("message_id", "json", "headers", "enqueued_at_unix_ms", "attempt", "lease_token", "lease_expires_at_unix_ms", "queue", "priority", "key")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    json: str
    headers: _containers.ScalarMap[str, str]
    enqueued_at_unix_ms: int
    attempt: int
    lease_token: str
    lease_expires_at_unix_ms: int
    queue: str
    priority: int
    key: str
    def __init__(self, message_id: _Optional[str] = ..., json: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., enqueued_at_unix_ms: _Optional[int] = ..., attempt: _Optional[int] = ..., lease_token: _Optional[str] = ..., lease_expires_at_unix_ms: _Optional[int] = ..., queue: _Optional[str] = ..., priority: _Optional[int] = ..., key: _Optional[str] = ...) -> None: ...

class SendRequest(_message.Message):
    __slots__ = ("room", "queue", "messages", "create")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    messages: _containers.RepeatedCompositeFieldContainer[OutgoingMessage]
    create: bool
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[OutgoingMessage, _Mapping]]] = ..., create: _Optional[bool] = ...) -> None: ...

class SendResult(_message.Message):
    __slots__ = ("message_id", "duplicate")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    duplicate: bool
    def __init__(self, message_id: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class SendResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SendResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SendResult, _Mapping]]] = ...) -> None: ...

class ReceiveRequest(_message.Message):
    __slots__ = ("room", "queue", "create", "wait", "timeout_seconds", "max_messages", "auto_ack", "lease_seconds")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    AUTO_ACK_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    create: bool
    wait: bool
    timeout_seconds: float
    max_messages: int
    auto_ack: bool
    lease_seconds: float
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., create: _Optional[bool] = ..., wait: _Optional[bool] = ..., timeout_seconds: _Optional[float] = ..., max_messages: _Optional[int] = ..., auto_ack: _Optional[bool] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class ReceiveResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class SubscribeOpen(_message.Message):
    __slots__ = ("room", "queue", "create", "max_in_flight", "lease_seconds")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    create: bool
    max_in_flight: int
    lease_seconds: float
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., create: _Optional[bool] = ..., max_in_flight: _Optional[int] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class NackItem(_message.Message):
    __slots__ = ("lease_token", "delay_seconds", "error")
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    lease_token: str
    delay_seconds: float
    error: str
    def __init__(self, lease_token: _Optional[str] = ..., delay_seconds: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class ExtendItem(_message.Message):
    __slots__ = ("lease_token", "seconds")
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    lease_token: str
    seconds: float
    def __init__(self, lease_token: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("open", "ack_tokens", "nacks", "extends", "max_in_flight")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ACK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NACKS_FIELD_NUMBER: _ClassVar[int]
    EXTENDS_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    open: SubscribeOpen
    ack_tokens: _containers.RepeatedScalarFieldContainer[str]
    nacks: _containers.RepeatedCompositeFieldContainer[NackItem]
    extends: _containers.RepeatedCompositeFieldContainer[ExtendItem]
    max_in_flight: int
    def __init__(self, open: _Optional[_Union[SubscribeOpen, _Mapping]] = ..., ack_tokens: _Optional[_Iterable[str]] = ..., nacks: _Optional[_Iterable[_Union[NackItem, _Mapping]]] = ..., extends: _Optional[_Iterable[_Union[ExtendItem, _Mapping]]] = ..., max_in_flight: _Optional[int] = ...) -> None: ...

class SettleResult(_message.Message):
    __slots__ = ("lease_token", "outcome")
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    lease_token: str
    outcome: SettleOutcome
    def __init__(self, lease_token: _Optional[str] = ..., outcome: _Optional[_Union[SettleOutcome, str]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("deliveries", "results")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    results: _containers.RepeatedCompositeFieldContainer[SettleResult]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., results: _Optional[_Iterable[_Union[SettleResult, _Mapping]]] = ...) -> None: ...

class AckRequest(_message.Message):
    __slots__ = ("room", "queue", "lease_tokens")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    lease_tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., lease_tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class AckResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SettleResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SettleResult, _Mapping]]] = ...) -> None: ...

class NackRequest(_message.Message):
    __slots__ = ("room", "queue", "nacks")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    NACKS_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    nacks: _containers.RepeatedCompositeFieldContainer[NackItem]
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., nacks: _Optional[_Iterable[_Union[NackItem, _Mapping]]] = ...) -> None: ...

class NackResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SettleResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SettleResult, _Mapping]]] = ...) -> None: ...

class ExtendLeaseRequest(_message.Message):
    __slots__ = ("room", "queue", "extends")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    EXTENDS_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    extends: _containers.RepeatedCompositeFieldContainer[ExtendItem]
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., extends: _Optional[_Iterable[_Union[ExtendItem, _Mapping]]] = ...) -> None: ...

class ExtendLeaseResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SettleResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SettleResult, _Mapping]]] = ...) -> None: ...

class QueueOptions(_message.Message):
    __slots__ = ("max_deliveries", "dedup_window_seconds", "rate_limit", "rate_burst", "key_concurrency")
    MAX_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    DEDUP_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    RATE_BURST_FIELD_NUMBER: _ClassVar[int]
    KEY_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    max_deliveries: int
    dedup_window_seconds: float
    rate_limit: float
    rate_burst: int
    key_concurrency: int
    def __init__(self, max_deliveries: _Optional[int] = ..., dedup_window_seconds: _Optional[float] = ..., rate_limit: _Optional[float] = ..., rate_burst: _Optional[int] = ..., key_concurrency: _Optional[int] = ...) -> None: ...

class QueueInfo(_message.Message):
    __slots__ = ("name", "depth", "in_flight", "delayed", "dead_lettered", "oldest_age_seconds", "closed", "options")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    DELAYED_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    depth: int
    in_flight: int
    delayed: int
    dead_lettered: int
    oldest_age_seconds: float
    closed: bool
    options: QueueOptions
    def __init__(self, name: _Optional[str] = ..., depth: _Optional[int] = ..., in_flight: _Optional[int] = ..., delayed: _Optional[int] = ..., dead_lettered: _Optional[int] = ..., oldest_age_seconds: _Optional[float] = ..., closed: _Optional[bool] = ..., options: _Optional[_Union[QueueOptions, _Mapping]] = ...) -> None: ...

class OpenQueueRequest(_message.Message):
    __slots__ = ("room", "queue", "options")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    options: QueueOptions
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., options: _Optional[_Union[QueueOptions, _Mapping]] = ...) -> None: ...

class OpenQueueResponse(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: QueueInfo
    def __init__(self, queue: _Optional[_Union[QueueInfo, _Mapping]] = ...) -> None: ...

class CloseQueueRequest(_message.Message):
    __slots__ = ("room", "queue")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class CloseQueueResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DrainQueueRequest(_message.Message):
    __slots__ = ("room", "queue")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class DrainQueueResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class DeleteQueueRequest(_message.Message):
    __slots__ = ("room", "queue")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class DeleteQueueResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQueuesRequest(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: str
    def __init__(self, room: _Optional[str] = ...) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueInfo]
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueInfo, _Mapping]]] = ...) -> None: ...

class PeekQueueRequest(_message.Message):
    __slots__ = ("room", "queue", "max_messages")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    max_messages: int
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., max_messages: _Optional[int] = ...) -> None: ...

class PeekQueueResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, messages: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class RedriveQueueRequest(_message.Message):
    __slots__ = ("room", "queue", "max_messages")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    max_messages: int
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., max_messages: _Optional[int] = ...) -> None: ...

class RedriveQueueResponse(_message.Message):
    __slots__ = ("moved",)
    MOVED_FIELD_NUMBER: _ClassVar[int]
    moved: int
    def __init__(self, moved: _Optional[int] = ...) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ("room", "queue", "message_id")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    room: str
    queue: str
    message_id: str
    def __init__(self, room: _Optional[str] = ..., queue: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class GetMessageResponse(_message.Message):
    __slots__ = ("state", "attempt")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    state: MessageState
    attempt: int
    def __init__(self, state: _Optional[_Union[MessageState, str]] = ..., attempt: _Optional[int] = ...) -> None: ...
