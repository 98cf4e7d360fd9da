"""Proto <-> domain for the scheduler; nowhere else builds or reads scheduler messages."""

from __future__ import annotations

from meshq.core.errors import InvalidArgument
from meshq.scheduler.model import (
    DEFAULT_CATCHUP_WINDOW,
    DEFAULT_MISFIRE_CAP,
    MisfirePolicy,
    RunOutcome,
    TaskRun,
    TaskSpec,
    TaskUpdate,
    TaskView,
)
from meshq.v1 import scheduler_pb2 as pb

_POLICY_FROM = {
    pb.MISFIRE_POLICY_UNSPECIFIED: MisfirePolicy.SKIP,
    pb.MISFIRE_POLICY_SKIP: MisfirePolicy.SKIP,
    pb.MISFIRE_POLICY_LATEST: MisfirePolicy.LATEST,
    pb.MISFIRE_POLICY_ALL: MisfirePolicy.ALL,
}
_POLICY_TO = {
    MisfirePolicy.SKIP: pb.MISFIRE_POLICY_SKIP,
    MisfirePolicy.LATEST: pb.MISFIRE_POLICY_LATEST,
    MisfirePolicy.ALL: pb.MISFIRE_POLICY_ALL,
}
_OUTCOME_TO = {
    RunOutcome.SENDING: pb.RUN_OUTCOME_UNSPECIFIED,
    RunOutcome.ENQUEUED: pb.RUN_OUTCOME_ENQUEUED,
    RunOutcome.SKIPPED_INACTIVE: pb.RUN_OUTCOME_SKIPPED_INACTIVE,
    RunOutcome.SKIPPED_MISFIRE: pb.RUN_OUTCOME_SKIPPED_MISFIRE,
    RunOutcome.SKIPPED_PENDING: pb.RUN_OUTCOME_SKIPPED_PENDING,
    RunOutcome.FAILED: pb.RUN_OUTCOME_FAILED,
}
OUTCOME_FROM = {v: k for k, v in _OUTCOME_TO.items()}


def policy_from_proto(value: int) -> MisfirePolicy:
    try:
        return _POLICY_FROM[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(f"misfire_policy {value} is unknown: use skip, latest or all") from None


def spec_from_proto(spec: pb.TaskSpec) -> TaskSpec:
    return TaskSpec(
        room=spec.room, queue=spec.queue, schedule=spec.schedule, timezone=spec.timezone or "UTC",
        payload_json=spec.payload_json, active=spec.active, once=spec.once, name=spec.name,
        annotations=dict(spec.annotations),
        catchup_window_seconds=spec.catchup_window_seconds or DEFAULT_CATCHUP_WINDOW,
        misfire_policy=policy_from_proto(spec.misfire_policy),
        misfire_cap=spec.misfire_cap or DEFAULT_MISFIRE_CAP,
        jitter_seconds=spec.jitter_seconds, skip_if_pending=spec.skip_if_pending,
    )


def spec_to_proto(spec: TaskSpec) -> pb.TaskSpec:
    return pb.TaskSpec(
        room=spec.room, queue=spec.queue, schedule=spec.schedule, timezone=spec.timezone,
        payload_json=spec.payload_json, active=spec.active, once=spec.once, name=spec.name,
        annotations=spec.annotations, catchup_window_seconds=spec.catchup_window_seconds,
        misfire_policy=_POLICY_TO[spec.misfire_policy], misfire_cap=spec.misfire_cap,
        jitter_seconds=spec.jitter_seconds, skip_if_pending=spec.skip_if_pending,
    )


def task_to_proto(view: TaskView) -> pb.Task:
    last = view.last_run
    return pb.Task(
        id=view.task.id, spec=spec_to_proto(view.task.spec), created_at_unix_ms=view.task.created_at_ms,
        next_fire_unix_ms=view.next_fire_ms,
        last_outcome=_OUTCOME_TO[last.outcome] if last else pb.RUN_OUTCOME_UNSPECIFIED,
        last_fire_unix_ms=last.scheduled_ms if last else 0,
    )


def run_to_proto(run: TaskRun) -> pb.TaskRun:
    return pb.TaskRun(
        task_id=run.task_id, scheduled_unix_ms=run.scheduled_ms, fired_at_unix_ms=run.fired_at_ms,
        message_id=run.message_id, outcome=_OUTCOME_TO[run.outcome], error=run.error,
        manual=run.manual,
    )


def update_from_proto(req: pb.UpdateTaskRequest) -> TaskUpdate:
    def opt(name: str) -> object:
        return getattr(req, name) if req.HasField(name) else None

    policy = policy_from_proto(req.misfire_policy) if req.HasField("misfire_policy") else None
    return TaskUpdate(
        queue=opt("queue"), schedule=opt("schedule"), timezone=opt("timezone"),  # type: ignore[arg-type]
        payload_json=opt("payload_json"), active=opt("active"), name=opt("name"),  # type: ignore[arg-type]
        catchup_window_seconds=opt("catchup_window_seconds"), misfire_policy=policy,  # type: ignore[arg-type]
        misfire_cap=opt("misfire_cap"), jitter_seconds=opt("jitter_seconds"),  # type: ignore[arg-type]
        skip_if_pending=opt("skip_if_pending"), once=opt("once"),  # type: ignore[arg-type]
    )
