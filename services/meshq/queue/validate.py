"""Checks on everything a caller hands the queue engine, done before any state is touched."""

from __future__ import annotations

import json
import json.decoder
import json.encoder
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from meshq.core.errors import InvalidArgument
from meshq.core.validation import (
    check_name,
    check_seconds,
    parse_json,
    refuse_json_constant,
    shown,
)
from meshq.queue.flow import check_flow_options, flow_headers
from meshq.queue.model import (
    DEFAULT_LEASE_SECONDS,
    DLQ_SUFFIX,
    MAX_DELAY_SECONDS,
    MAX_LEASE_SECONDS,
    ExtendItem,
    NackItem,
    NewMessage,
    QueueLimits,
    QueueOptions,
)

MAX_NAME_CHARS = 128  # core.validation.NAME_PATTERN's limit
MAX_DEDUP_ID_BYTES = 512
MAX_WAIT_SECONDS = 60.0
MAX_DELIVERIES_LIMIT = 1000  # the largest max_deliveries a queue may set
MAX_DEDUP_WINDOW = 7 * 24 * 3600.0
MAX_MESSAGE_DEDUP_WINDOW = 30 * 24 * 3600.0  # a message's own dedup_window_seconds
# The C scanner behind json.loads, called directly: json.loads adds two regex matches and
# some Python around it, 6x the scanner's own time on a 200-byte object.
# NaN / Infinity raise there (RFC 8259 has no such value) and parse_json says so.
_scan: Callable[[str, int], tuple[object, int]] = json.decoder.JSONDecoder(  # type: ignore[attr-defined]
    parse_constant=refuse_json_constant).scan_once
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
# The C string escaper json.dumps itself uses (ensure_ascii), called directly: json.dumps with
# separators builds an encoder per call, 4x the cost of escaping two headers.
_escape: Callable[[str], str] = json.encoder.encode_basestring_ascii

Prepared = tuple[str, dict[str, str], str, float, str, float]
"""(body, headers, headers_json, delay_seconds, dedup_id, dedup_window) of one validated
message; dedup_window 0 means the queue's."""


def check_target(room: str, queue: str) -> None:
    """A room and queue name; ``<valid name>.dlq`` is valid even past the 128-char limit,
    so the dead-letter queue of a queue with a longest name can be peeked, drained, listed."""
    check_name("room", room)
    if type(queue) is str and len(queue) > MAX_NAME_CHARS and queue.endswith(DLQ_SUFFIX):
        check_name("queue", queue[:-len(DLQ_SUFFIX)])
    else:
        check_name("queue", queue)


def check_count(field: str, n: int, limits: QueueLimits) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > limits.max_batch:
        raise InvalidArgument(f"{field} must be between 1 and {limits.max_batch}, got {shown(n)}")
    return n


def check_lease(field: str, seconds: float) -> float:
    """A lease length; 0 means the default."""
    check_seconds(field, seconds, maximum=MAX_LEASE_SECONDS)
    return seconds if seconds > 0 else DEFAULT_LEASE_SECONDS


def check_receive(room: str, queue: str, max_messages: int, wait_seconds: float,
                  lease_seconds: float, limits: QueueLimits) -> tuple[int, float]:
    """A Receive's arguments, the same on every backend: (count, lease seconds)."""
    check_target(room, queue)
    n = check_count("max_messages", max_messages, limits)
    check_seconds("wait_seconds", wait_seconds, maximum=MAX_WAIT_SECONDS)
    return n, check_lease("lease_seconds", lease_seconds)


def check_options(options: QueueOptions) -> QueueOptions:
    n = options.max_deliveries
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_DELIVERIES_LIMIT:
        raise InvalidArgument(
            f"max_deliveries must be between 1 and {MAX_DELIVERIES_LIMIT}, got {shown(n)}"
        )
    check_seconds("dedup_window_seconds", options.dedup_window_seconds, maximum=MAX_DEDUP_WINDOW)
    check_flow_options(options)
    return options


def _check_body(index: int, body: str) -> int:
    """Validate one body; return its size in UTF-8 bytes.

    The common case (plain ASCII JSON without surrounding whitespace) costs one ``isascii``,
    one call of the C JSON scanner and a substring test: no UTF-8 encoding, and the slow
    checks only run when they can find something.
    """
    if type(body) is not str:
        if not isinstance(body, str):
            raise InvalidArgument(f"messages[{index}].json must be text")
    if body.isascii():
        size = len(body)  # ASCII text has no surrogates and is its own UTF-8
    else:
        try:
            size = len(body.encode("utf-8"))
        except UnicodeEncodeError as err:
            raise InvalidArgument(
                f"messages[{index}].json is not valid UTF-8 (lone surrogate at char {err.start})"
            ) from None
    try:
        value, end = _scan(body, 0)
        if end != len(body):
            raise ValueError("trailing text")
    except (ValueError, RecursionError, StopIteration):
        # Leading or trailing whitespace, or not JSON: json.loads decides, and says where.
        value = parse_json(f"messages[{index}].json", body)
    if "\\u" in body and _ESCAPED_SURROGATE.search(body):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(
                f"messages[{index}].json escapes a lone surrogate (\\uD800-\\uDFFF)"
            ) from None
    return size


def _check_headers(index: int, headers: dict[str, str]) -> int:
    size = 0
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidArgument(f"messages[{index}].headers: keys and values must be text, "
                                  "keys non-empty")
        if "\x00" in key or "\x00" in value:
            raise InvalidArgument(f"messages[{index}].headers[{shown(key)}] contains NUL")
        try:
            size += len(key.encode("utf-8")) + len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidArgument(
                f"messages[{index}].headers[{shown(key)}] is not valid UTF-8"
            ) from None
    return size


def encode_headers(headers: Mapping[str, str]) -> str:
    """``json.dumps(headers, separators=(",", ":"))`` of checked text headers, same text."""
    return "{" + ",".join([_escape(k) + ":" + _escape(v) for k, v in headers.items()]) + "}"


def _check_dedup(index: int, dedup_id: str) -> str:
    if not dedup_id:
        return ""
    field = f"messages[{index}].dedup_id"
    if "\x00" in dedup_id:
        raise InvalidArgument(f"{field} contains NUL")
    try:
        size = len(dedup_id.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument(f"{field} is not valid UTF-8") from None
    if size > MAX_DEDUP_ID_BYTES:
        raise InvalidArgument(f"{field} is {size} bytes; the limit is {MAX_DEDUP_ID_BYTES}")
    return dedup_id


Fields = (tuple[str, Mapping[str, str], float, str]
          | tuple[str, Mapping[str, str], float, str, float])
"""(body, headers, delay_seconds, dedup_id[, dedup_window_seconds]) of one message as a caller
sent it."""


def check_batch(n: int, limits: QueueLimits) -> None:
    """The size of a Send batch: at least one message, at most ``limits.max_batch``."""
    if not n:
        raise InvalidArgument("messages must hold at least one message")
    if n > limits.max_batch:
        raise InvalidArgument(f"a send holds {n} messages; the limit is {limits.max_batch}")


def prepare(messages: Sequence[NewMessage], limits: QueueLimits) -> list[Prepared]:
    """Validate a Send batch; return each message ready to enqueue."""
    return prepare_fields([(m.body, flow_headers(m.headers, m.priority, m.key, f"messages[{i}]")
                            if m.priority or m.key else m.headers, m.delay_seconds, m.dedup_id,
                            m.dedup_window_seconds) for i, m in enumerate(messages)], limits)


def prepare_fields(messages: Sequence[Fields], limits: QueueLimits) -> list[Prepared]:
    """``prepare`` over plain tuples (the servicer's path: no ``NewMessage`` per message).

    ``headers`` may be any mapping (a proto map): it is copied only when it is not empty.
    """
    check_batch(len(messages), limits)
    out: list[Prepared] = []
    append = out.append
    limit = limits.max_message_bytes
    for i, fields in enumerate(messages):
        body, headers, delay, dedup_id = fields[0], fields[1], fields[2], fields[3]
        window = fields[4] if len(fields) > 4 else 0.0  # type: ignore[misc]
        size = _check_body(i, body)
        if headers:
            headers = dict(headers)
            size += _check_headers(i, headers)
            headers_json = encode_headers(headers)
        else:
            headers, headers_json = {}, "{}"
        if size > limit:
            raise InvalidArgument(
                f"messages[{i}] is {size} bytes with its headers; the limit is {limit}"
            )
        if delay:
            check_seconds(f"messages[{i}].delay_seconds", delay, maximum=MAX_DELAY_SECONDS)
            delay = float(delay)
        else:
            delay = 0.0
        if window:
            check_seconds(f"messages[{i}].dedup_window_seconds", window,
                          maximum=MAX_MESSAGE_DEDUP_WINDOW)
            window = float(window)
        append((body, headers, headers_json, delay,
                _check_dedup(i, dedup_id) if dedup_id else "", window))
    return out


class _NackLike(Protocol):
    @property
    def delay_seconds(self) -> float: ...


class _ExtendLike(Protocol):
    @property
    def seconds(self) -> float: ...


def check_nacks(items: Sequence[_NackLike]) -> None:
    """Each nack's delay (a NackItem or its proto): what ``QueueEngine.nack`` refuses."""
    for i, item in enumerate(items):
        check_seconds(f"nacks[{i}].delay_seconds", item.delay_seconds, maximum=MAX_DELAY_SECONDS)


def check_extends(items: Sequence[_ExtendLike]) -> None:
    """Each extension's length (an ExtendItem or its proto): more than 0, at most 12 h."""
    for i, item in enumerate(items):
        check_seconds(f"extends[{i}].seconds", item.seconds, maximum=MAX_LEASE_SECONDS)
        if item.seconds <= 0:
            raise InvalidArgument(f"extends[{i}].seconds must be more than 0")


def check_settle(acks: Sequence[str], nacks: Sequence[NackItem],
                 extends: Sequence[ExtendItem], *, max_batch: int) -> list[NackItem]:
    """One settle call, whole (``QueueBackend.settle``): each list within ``max_batch``, each
    nack's delay, each extension's length; the nacks with their error texts made safe. Bad
    input raises InvalidArgument before anything is applied."""
    for name, n in (("acks", len(acks)), ("nacks", len(nacks)), ("extends", len(extends))):
        if n > max_batch:
            raise InvalidArgument(f"{n} {name} in one call; the limit is {max_batch}")
    check_nacks(nacks)
    check_extends(extends)
    return [NackItem(lease_token=i.lease_token, delay_seconds=i.delay_seconds,
                     error=check_error_text(i.error)) if i.error else i for i in nacks]


def check_error_text(error: str) -> str:
    """A nack's error text, kept as a header: no NUL, cut to 4 KiB."""
    if "\x00" in error:
        error = error.replace("\x00", "\\0")
    error = error.encode("utf-8", "replace").decode("utf-8", "replace")
    return error[:4096]
