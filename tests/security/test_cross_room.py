"""RPCs whose room the servicer learns after a lookup, and list RPCs, keep rooms apart."""

from __future__ import annotations

import grpc
import pytest

from meshq.api.tokens import ApiScope
from meshq.v1 import rooms_pb2, rooms_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc

from .conftest import LiveServer


def md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _room(live: LiveServer, channel: grpc.aio.Channel, name: str) -> None:
    await rooms_pb2_grpc.RoomServiceStub(channel).CreateRoom(
        rooms_pb2.CreateRoomRequest(name=name, if_not_exists=True), metadata=md(live.admin_token),
        timeout=5)


async def test_a_task_of_another_room_answers_like_an_unknown_id(live: LiveServer,
                                                                 channel: grpc.aio.Channel,
                                                                 room: str) -> None:
    assert "meshq.v1.SchedulerService" in live.hosted, "the scheduler must be hosted"
    # Given a task in room A, made by the admin
    await _room(live, channel, room)
    scheduler = scheduler_pb2_grpc.SchedulerServiceStub(channel)
    spec = scheduler_pb2.TaskSpec(room=room, queue="jobs", schedule="0 0 1 1 *",
                                  payload_json="{}", active=False)
    task = (await scheduler.AddTask(scheduler_pb2.AddTaskRequest(spec=spec),
                                    metadata=md(live.admin_token), timeout=5)).task
    # When a scheduler token for room B asks for it by id, and for an unknown id of the same
    # length, Then both answer NOT_FOUND with the same message (no room named)
    intruder = live.token(room + "-b", ApiScope.none().allow_scheduler())
    unknown = "f" * len(task.id)

    def calls(task_id: str) -> list[object]:
        return [
            scheduler.GetTask(scheduler_pb2.GetTaskRequest(task_id=task_id), metadata=md(intruder),
                              timeout=5),
            scheduler.UpdateTask(scheduler_pb2.UpdateTaskRequest(task_id=task_id, name="x"),
                                 metadata=md(intruder), timeout=5),
            scheduler.DeleteTask(scheduler_pb2.DeleteTaskRequest(task_id=task_id),
                                 metadata=md(intruder), timeout=5),
            scheduler.TriggerTask(scheduler_pb2.TriggerTaskRequest(task_id=task_id),
                                  metadata=md(intruder), timeout=5),
            scheduler.ListRuns(scheduler_pb2.ListRunsRequest(task_id=task_id),
                               metadata=md(intruder), timeout=5),
        ]

    for foreign_call, unknown_call in zip(calls(task.id), calls(unknown), strict=True):
        answers = []
        for call in (foreign_call, unknown_call):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call  # type: ignore[misc]
            answers.append((err.value.code(), err.value.details().replace(task.id, unknown)))
        assert answers[0] == answers[1] and answers[0][0] == grpc.StatusCode.NOT_FOUND, answers
        assert room not in answers[0][1]
    # And its list does not show it
    listed = await scheduler.ListTasks(scheduler_pb2.ListTasksRequest(), metadata=md(intruder),
                                       timeout=5)
    assert task.id not in {t.id for t in listed.tasks}
    # While the owner of room A still gets it
    owner = live.token(room, ApiScope.none().allow_scheduler())
    got = await scheduler.GetTask(scheduler_pb2.GetTaskRequest(task_id=task.id),
                                  metadata=md(owner), timeout=5)
    assert got.task.id == task.id


async def test_list_rooms_shows_only_the_tokens_rooms(live: LiveServer,
                                                      channel: grpc.aio.Channel,
                                                      room: str) -> None:
    assert "meshq.v1.RoomService" in live.hosted, "the room service must be hosted"
    await _room(live, channel, room)
    await _room(live, channel, room + "-b")
    token = live.token(room + "-b", ApiScope.agent_default())
    listed = await rooms_pb2_grpc.RoomServiceStub(channel).ListRooms(
        rooms_pb2.ListRoomsRequest(), metadata=md(token), timeout=5)
    assert [r.name for r in listed.rooms] == [room + "-b"]
