"""Scheduled tasks from Python: ``SchedulerClient(conn).add(room=..., queue=..., schedule=...)``.

Every call carries the connection's token and a deadline (``conn.timeout`` unless the call
passes ``timeout=``). Results are the generated messages (``meshq.v1.scheduler_pb2``);
``task_to_dict`` / ``run_to_dict`` give plain dicts (what ``-o json`` prints). Failures are
``grpc.aio.AioRpcError``: INVALID_ARGUMENT naming the field (schedule, timezone, payload, ...),
NOT_FOUND for an unknown room or task id.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from meshq.api.connection import Connection
from meshq.v1 import scheduler_pb2 as pb
from meshq.v1 import scheduler_pb2_grpc

POLICIES = {"skip": pb.MISFIRE_POLICY_SKIP, "latest": pb.MISFIRE_POLICY_LATEST, "all": pb.MISFIRE_POLICY_ALL}
OUTCOMES = {
    pb.RUN_OUTCOME_UNSPECIFIED: "", pb.RUN_OUTCOME_ENQUEUED: "enqueued",
    pb.RUN_OUTCOME_SKIPPED_INACTIVE: "skipped_inactive", pb.RUN_OUTCOME_SKIPPED_MISFIRE: "skipped_misfire",
    pb.RUN_OUTCOME_SKIPPED_PENDING: "skipped_pending", pb.RUN_OUTCOME_FAILED: "failed",
}
_POLICY_NAMES = {v: k for k, v in POLICIES.items()} | {pb.MISFIRE_POLICY_UNSPECIFIED: "skip"}


def _iso(ms: int) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") if ms else None


def task_to_dict(task: pb.Task) -> dict[str, Any]:
    """A task as plain data (instants as ISO 8601 UTC text)."""
    s = task.spec
    return {
        "id": task.id, "room": s.room, "queue": s.queue, "schedule": s.schedule,
        "timezone": s.timezone, "payload": json.loads(s.payload_json) if s.payload_json else None,
        "active": s.active, "once": s.once, "name": s.name, "annotations": dict(s.annotations),
        "catchup_window_seconds": s.catchup_window_seconds,
        "misfire_policy": _POLICY_NAMES.get(s.misfire_policy, "skip"), "misfire_cap": s.misfire_cap,
        "jitter_seconds": s.jitter_seconds, "skip_if_pending": s.skip_if_pending,
        "created_at": _iso(task.created_at_unix_ms), "next_fire": _iso(task.next_fire_unix_ms),
        "last_outcome": OUTCOMES.get(task.last_outcome, "") or None,
        "last_fire": _iso(task.last_fire_unix_ms),
    }


def run_to_dict(run: pb.TaskRun) -> dict[str, Any]:
    """A ledger entry as plain data."""
    return {
        "task_id": run.task_id, "scheduled_at": _iso(run.scheduled_unix_ms),
        "fired_at": _iso(run.fired_at_unix_ms), "message_id": run.message_id or None,
        "outcome": OUTCOMES.get(run.outcome, "") or "sending", "error": run.error or None,
        "manual": run.manual,
    }


class SchedulerClient:
    """Scheduled tasks: add, get, list, update, delete, trigger, runs, preview."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def _stub(self) -> scheduler_pb2_grpc.SchedulerServiceStub:
        return self._conn.stub(scheduler_pb2_grpc.SchedulerServiceStub)

    def _kw(self, timeout: float | None) -> dict[str, Any]:
        return self._conn.call_options(timeout)

    async def add(self, *, room: str, queue: str, schedule: str, payload: Any = None,
                  payload_json: str | None = None, timezone: str = "UTC", name: str = "",
                  active: bool = True, once: bool = False, annotations: Mapping[str, str] | None = None,
                  catchup_window_seconds: float = 0.0, misfire_policy: str = "skip",
                  misfire_cap: int = 0, jitter_seconds: float = 0.0, skip_if_pending: bool = False,
                  timeout: float | None = None) -> pb.Task:
        """Add a task; ``payload`` is any JSON value (or pass ``payload_json`` text)."""
        spec = pb.TaskSpec(
            room=room, queue=queue, schedule=schedule, timezone=timezone,
            payload_json=payload_json if payload_json is not None else json.dumps(payload),
            active=active, once=once, name=name, annotations=dict(annotations or {}),
            catchup_window_seconds=catchup_window_seconds, misfire_policy=POLICIES[misfire_policy],
            misfire_cap=misfire_cap, jitter_seconds=jitter_seconds, skip_if_pending=skip_if_pending,
        )
        response = await self._stub.AddTask(pb.AddTaskRequest(spec=spec), **self._kw(timeout))
        return response.task

    async def get(self, task_id: str, *, timeout: float | None = None) -> pb.Task:
        response = await self._stub.GetTask(pb.GetTaskRequest(task_id=task_id), **self._kw(timeout))
        return response.task

    async def list(self, *, room: str = "", active_only: bool = False,
                   timeout: float | None = None) -> list[pb.Task]:
        request = pb.ListTasksRequest(room=room, active_only=active_only)
        response = await self._stub.ListTasks(request, **self._kw(timeout))
        return list(response.tasks)

    async def update(self, task_id: str, *, timeout: float | None = None, **fields: Any) -> pb.Task:
        """Change only the fields given: queue, schedule, timezone, payload (any JSON value) or
        payload_json, active, name, catchup_window_seconds, misfire_policy ("skip" | "latest" |
        "all"), misfire_cap, jitter_seconds, skip_if_pending, once."""
        if "payload" in fields:
            fields["payload_json"] = json.dumps(fields.pop("payload"))
        if "misfire_policy" in fields:
            fields["misfire_policy"] = POLICIES[fields["misfire_policy"]]
        request = pb.UpdateTaskRequest(task_id=task_id, **fields)
        response = await self._stub.UpdateTask(request, **self._kw(timeout))
        return response.task

    async def delete(self, task_id: str, *, timeout: float | None = None) -> None:
        """Delete a task; once this returns, it never enqueues again."""
        await self._stub.DeleteTask(pb.DeleteTaskRequest(task_id=task_id), **self._kw(timeout))

    async def trigger(self, task_id: str, *, timeout: float | None = None) -> pb.TaskRun:
        """Enqueue the task's payload now; the ledger entry."""
        response = await self._stub.TriggerTask(pb.TriggerTaskRequest(task_id=task_id), **self._kw(timeout))
        return response.run

    async def runs(self, task_id: str, *, limit: int = 0, timeout: float | None = None) -> builtins.list[pb.TaskRun]:
        """The ledger, newest first (0: the server's default of 100)."""
        request = pb.ListRunsRequest(task_id=task_id, limit=limit)
        response = await self._stub.ListRuns(request, **self._kw(timeout))
        return list(response.runs)

    async def preview(self, schedule: str, *, timezone: str = "UTC", from_unix_ms: int = 0,
                      count: int = 5, timeout: float | None = None) -> pb.PreviewResponse:
        """The next instants of a schedule, from the code that fires."""
        request = pb.PreviewRequest(schedule=schedule, timezone=timezone, from_unix_ms=from_unix_ms,
                                    count=count)
        response: pb.PreviewResponse = await self._stub.Preview(request, **self._kw(timeout))
        return response
