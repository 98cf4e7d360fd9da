"""Validation of task settings: every error names the field and says what to fix."""

from __future__ import annotations

import dataclasses

from meshq.core.errors import InvalidArgument
from meshq.core.validation import check_name, check_seconds, check_text, parse_json, shown
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
    parse_json("payload", spec.payload_json)
    check_text("name", spec.name, max_bytes=MAX_NAME_BYTES)
    if len(spec.annotations) > MAX_ANNOTATIONS:
        raise InvalidArgument(f"annotations has {len(spec.annotations)} entries; the limit is {MAX_ANNOTATIONS}")
    for key, value in spec.annotations.items():
        if not key:
            raise InvalidArgument("annotations: keys must not be empty")
        check_text(f"annotations[{shown(key)}]", key + value, max_bytes=4096)
    check_seconds("catchup_window", spec.catchup_window_seconds, maximum=MAX_CATCHUP_WINDOW)
    check_seconds("jitter", spec.jitter_seconds, maximum=MAX_JITTER)
    if not 1 <= spec.misfire_cap <= MAX_MISFIRE_CAP:
        raise InvalidArgument(f"misfire_cap must be between 1 and {MAX_MISFIRE_CAP}, got {spec.misfire_cap}")
    return dataclasses.replace(spec, schedule=schedule.expr, timezone=timezone)


def apply_update(spec: TaskSpec, update: TaskUpdate) -> TaskSpec:
    """The spec with the update's fields set, validated as a whole."""
    changes = update.changes()
    if not changes:
        raise InvalidArgument("update sets no field: give at least one setting to change")
    return check_spec(dataclasses.replace(spec, **changes))  # type: ignore[arg-type]
