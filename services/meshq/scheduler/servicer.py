"""gRPC servicer for SchedulerService: proto <-> domain and the late room checks, nothing more.

RPCs keyed by a task id learn the task's room only after a lookup: they call
``meshq.security.context.require(room, "scheduler")`` then (the interceptor checks AddTask and
ListTasks-with-room itself). A task of a room the caller may not use answers NOT_FOUND with
the very message of an unknown id (no room named), so task ids cannot be probed.

Preview runs in a worker thread under a work bound shortened to the call's deadline, so a
costly schedule never holds the event loop (every other RPC) and answers what it found.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TypeAlias

import grpc

from meshq.core.errors import NotFound, PermissionDenied
from meshq.scheduler import convert, cron
from meshq.scheduler.engine import SchedulerEngine, unknown_task
from meshq.scheduler.preview import preview_bounded, preview_budget
from meshq.security import context as security
from meshq.server.status import rpc_errors
from meshq.v1 import scheduler_pb2 as pb
from meshq.v1 import scheduler_pb2_grpc

Context: TypeAlias = grpc.aio.ServicerContext
DEFAULT_PREVIEW = 5
DEADLINE_MARGIN = 0.05  # seconds of the caller's deadline left for answering a Preview


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServiceServicer):
    """Scheduled tasks: add, get, list, update, delete, trigger, runs, preview."""

    def __init__(self, engine: SchedulerEngine) -> None:
        self._engine = engine

    def _authorize(self, task_id: str) -> None:
        """NotFound, alike, for an unknown task and for a task the caller may not use."""
        view = self._engine.get_task(task_id)
        try:
            security.require(view.task.spec.room, "scheduler")
        except PermissionDenied:
            raise NotFound(unknown_task(task_id)) from None

    @rpc_errors
    async def AddTask(self, request: pb.AddTaskRequest, context: Context) -> pb.AddTaskResponse:
        view = await self._engine.add_task(convert.spec_from_proto(request.spec))
        return pb.AddTaskResponse(task=convert.task_to_proto(view))

    @rpc_errors
    async def GetTask(self, request: pb.GetTaskRequest, context: Context) -> pb.GetTaskResponse:
        self._authorize(request.task_id)
        return pb.GetTaskResponse(task=convert.task_to_proto(self._engine.get_task(request.task_id)))

    @rpc_errors
    async def ListTasks(self, request: pb.ListTasksRequest, context: Context) -> pb.ListTasksResponse:
        views = self._engine.list_tasks(request.room, request.active_only)
        visible = [v for v in views if security.may_see(v.task.spec.room, "scheduler")]
        return pb.ListTasksResponse(tasks=[convert.task_to_proto(v) for v in visible])

    @rpc_errors
    async def UpdateTask(self, request: pb.UpdateTaskRequest, context: Context) -> pb.UpdateTaskResponse:
        self._authorize(request.task_id)
        view = await self._engine.update_task(request.task_id, convert.update_from_proto(request))
        return pb.UpdateTaskResponse(task=convert.task_to_proto(view))

    @rpc_errors
    async def DeleteTask(self, request: pb.DeleteTaskRequest, context: Context) -> pb.DeleteTaskResponse:
        self._authorize(request.task_id)
        await self._engine.delete_task(request.task_id)
        return pb.DeleteTaskResponse()

    @rpc_errors
    async def TriggerTask(self, request: pb.TriggerTaskRequest, context: Context) -> pb.TriggerTaskResponse:
        self._authorize(request.task_id)
        run = await self._engine.trigger_task(request.task_id)
        return pb.TriggerTaskResponse(run=convert.run_to_proto(run))

    @rpc_errors
    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ListRunsResponse:
        self._authorize(request.task_id)
        runs = await self._engine.runs(request.task_id, request.limit)
        return pb.ListRunsResponse(runs=[convert.run_to_proto(r) for r in runs])

    @rpc_errors
    async def Preview(self, request: pb.PreviewRequest, context: Context) -> pb.PreviewResponse:
        after = (cron.from_ms(cron.check_instant_ms("from_unix_ms", request.from_unix_ms))
                 if request.from_unix_ms else datetime.now(UTC))
        remaining = context.time_remaining()
        budget = preview_budget(None if remaining is None else remaining - DEADLINE_MARGIN)
        result = await asyncio.to_thread(preview_bounded, request.schedule,
                                         request.timezone or "UTC", after,
                                         request.count or DEFAULT_PREVIEW, budget)
        instants = result.instants
        return pb.PreviewResponse(instants_unix_ms=[cron.to_ms(i) for i in instants],
                                  instants_local=[i.isoformat() for i in instants],
                                  stopped=bool(result.stopped), stopped_reason=result.stopped)
