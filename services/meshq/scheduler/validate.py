"""Validation of task settings: every error names the field and says what to fix."""

from __future__ import annotations

import dataclasses
import json
import math

from meshq.core.errors import InvalidArgument
from meshq.core.validation import check_name, check_text, parse_json, shown
from meshq.scheduler import cron
from meshq.scheduler.model import (
    MAX_CATCHUP_WINDOW,
    MAX_JITTER,
    MAX_MISFIRE_CAP,
    MAX_PAYLOAD_BYTES,
    TaskSpec,
    TaskUpdate,
)

MAX_ANNOTATIONS = 64
MAX_NAME_BYTES = 256


def check_spec(spec: TaskSpec) -> TaskSpec:
    """Return ``spec`` normalised (schedule whitespace, timezone name) or raise InvalidArgument."""
    check_name("room", spec.room)
    check_name("queue", spec.queue)
    schedule = cron.parse_schedule(spec.schedule)
    timezone = spec.timezone or "UTC"
    cron.parse_timezone(timezone)
    check_text("payload", spec.payload_json, max_bytes=MAX_PAYLOAD_BYTES)
    parse_strict_json("payload", spec.payload_json)
    check_text("name", spec.name, max_bytes=MAX_NAME_BYTES)
    if len(spec.annotations) > MAX_ANNOTATIONS:
        raise InvalidArgument(f"annotations has {len(spec.annotations)} entries; the limit is {MAX_ANNOTATIONS}")
    for key, value in spec.annotations.items():
        if not key:
            raise InvalidArgument("annotations: keys must not be empty")
        check_text(f"annotations[{shown(key)}]", key + value, max_bytes=4096)
    _check_seconds("catchup_window_seconds", spec.catchup_window_seconds, MAX_CATCHUP_WINDOW)
    _check_seconds("jitter_seconds", spec.jitter_seconds, MAX_JITTER)
    if not isinstance(spec.misfire_cap, int) or not 1 <= spec.misfire_cap <= MAX_MISFIRE_CAP:
        raise InvalidArgument(f"misfire_cap must be between 1 and {MAX_MISFIRE_CAP}, got {shown(spec.misfire_cap)}")
    return dataclasses.replace(spec, schedule=schedule.expr, timezone=timezone)


def _refuse_constant(name: str) -> object:
    raise InvalidArgument(f"payload is not JSON text (RFC 8259): {name} is not a JSON value; "
                          "use null, a number or a string")


def parse_strict_json(field: str, text: str) -> object:
    """JSON text as RFC 8259 has it: ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's
    json accepts and JavaScript's JSON.parse rejects) are refused, naming the token."""
    parse_json(field, text)  # the error names the line and column of a syntax error
    return json.loads(text, parse_constant=_refuse_constant)


# Room for the headers the scheduler adds to each fire's message (task id, scheduled-at,
# W3C trace context: ~200 bytes), counted by the queue's message limit with the body.
FIRE_HEADER_BYTES = 512


def check_payload_fits(spec: TaskSpec, max_message_bytes: int) -> None:
    """InvalidArgument when the payload cannot fit the target queue's message limit with the
    fire's headers (every fire would fail)."""
    size = len(spec.payload_json.encode())
    limit = max_message_bytes - FIRE_HEADER_BYTES
    if size > limit:
        raise InvalidArgument(
            f"payload is {size} bytes; the queue {spec.queue!r} takes messages up to "
            f"{max_message_bytes} bytes, {limit} for the payload beside the fire's headers")


def check_task(spec: TaskSpec, max_message_bytes: int, now_ms: int) -> TaskSpec:
    """``spec`` checked (the engine runs this in a worker thread: the cron work is bounded but
    not free), its payload within the queue's message limit, and its first instant after
    ``now_ms`` computed (cached, so installing the task on the event loop costs no cron work)."""
    spec = check_spec(spec)
    check_payload_fits(spec, max_message_bytes)
    try:
        cron.next_ms_after(cron.parse_schedule(spec.schedule), cron.parse_timezone(spec.timezone),
                           now_ms)
    except cron.BudgetExhausted:
        raise InvalidArgument(f"schedule {shown(spec.schedule)} has no instant within the "
                              "scheduler's work bound") from None
    return spec


def _check_seconds(field: str, value: float, maximum: float) -> None:
    """A finite duration in [0, maximum]; the error names the field and the range."""
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= maximum:
        raise InvalidArgument(f"{field} must be between 0 and {maximum:g} seconds, got {shown(value)}")


def apply_update(spec: TaskSpec, update: TaskUpdate) -> TaskSpec:
    """The spec with the update's fields set, validated as a whole."""
    changes = update.changes()
    if not changes:
        raise InvalidArgument("update sets no field: give at least one setting to change")
    return check_spec(dataclasses.replace(spec, **changes))  # type: ignore[arg-type]
