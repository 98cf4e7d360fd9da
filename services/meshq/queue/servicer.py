"""gRPC servicers for RoomService and QueueService: proto <-> domain, nothing more.

They call only the ``QueueBackend`` seam (embedded engine or PostgreSQL alike), which
validates every domain value and raises ``meshq.core.errors``; ``rpc_errors`` turns those
into statuses. Only proto-level checks (the shape of a Subscribe stream) live
here and in ``meshq.queue.stream``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeAlias

import grpc

from meshq.core.errors import MeshqError
from meshq.queue import convert
from meshq.queue.backend import QueueBackend
from meshq.queue.model import QueueOptions
from meshq.queue.stream import SubscribeSession
from meshq.security.context import may_see
from meshq.server.status import rpc_errors
from meshq.v1 import queues_pb2, queues_pb2_grpc, rooms_pb2, rooms_pb2_grpc

Context: TypeAlias = grpc.aio.ServicerContext


class RoomServicer(rooms_pb2_grpc.RoomServiceServicer):
    """Rooms: create, get, list, delete."""

    def __init__(self, backend: QueueBackend,
                 delete_checks: Sequence[Callable[[str], None]] = ()) -> None:
        self._backend = backend
        self._delete_checks = delete_checks
        """Each may refuse a DeleteRoom by raising (``StackContext.room_delete_checks``)."""

    @rpc_errors
    async def CreateRoom(self, request: rooms_pb2.CreateRoomRequest,
                         context: Context) -> rooms_pb2.CreateRoomResponse:
        room, created = await self._backend.create_room(request.name,
                                                       if_not_exists=request.if_not_exists)
        return rooms_pb2.CreateRoomResponse(room=convert.room_to_proto(room), created=created)

    @rpc_errors
    async def GetRoom(self, request: rooms_pb2.GetRoomRequest,
                      context: Context) -> rooms_pb2.GetRoomResponse:
        return rooms_pb2.GetRoomResponse(
            room=convert.room_to_proto(await self._backend.get_room(request.name)))

    @rpc_errors
    async def ListRooms(self, request: rooms_pb2.ListRoomsRequest,
                        context: Context) -> rooms_pb2.ListRoomsResponse:
        rooms = sorted((r for r in await self._backend.list_rooms() if may_see(r.name)),
                       key=lambda r: r.name)
        return rooms_pb2.ListRoomsResponse(rooms=[convert.room_to_proto(r) for r in rooms])

    @rpc_errors
    async def DeleteRoom(self, request: rooms_pb2.DeleteRoomRequest,
                         context: Context) -> rooms_pb2.DeleteRoomResponse:
        for check in self._delete_checks:
            check(request.name)
        await self._backend.delete_room(request.name, force=request.force)
        return rooms_pb2.DeleteRoomResponse()


class QueueServicer(queues_pb2_grpc.QueueServiceServicer):
    """Queues: send, receive, subscribe, settle, and manage."""

    def __init__(self, backend: QueueBackend) -> None:
        self._backend = backend

    @rpc_errors
    async def Send(self, request: queues_pb2.SendRequest,
                   context: Context) -> queues_pb2.SendResponse:
        results = await self._backend.send_fields(
            request.room, request.queue, convert.fields_from_proto(request.messages),
            create=request.create)
        response = queues_pb2.SendResponse()
        convert.add_send_results(response.results, results)
        return response

    @rpc_errors
    async def Receive(self, request: queues_pb2.ReceiveRequest,
                      context: Context) -> queues_pb2.ReceiveResponse:
        wait = convert.wait_seconds(request.wait, request.timeout_seconds,
                                    context.time_remaining())
        deliveries = await self._backend.receive(
            request.room, request.queue,
            max_messages=request.max_messages or 1,
            wait_seconds=wait,
            lease_seconds=convert.lease_seconds(request.lease_seconds),
            auto_ack=request.auto_ack,
            create=request.create,
        )
        return queues_pb2.ReceiveResponse(deliveries=convert.deliveries_to_proto(deliveries))

    @rpc_errors
    async def Subscribe(self, request_iterator: AsyncIterator[queues_pb2.SubscribeRequest],
                        context: Context) -> AsyncIterator[queues_pb2.SubscribeResponse]:
        session = await SubscribeSession.open(self._backend, request_iterator)
        async with session:
            async for frame in session.frames():
                yield frame

    @rpc_errors
    async def Ack(self, request: queues_pb2.AckRequest,
                  context: Context) -> queues_pb2.AckResponse:
        tokens = list(request.lease_tokens)
        outcomes = (await self._backend.settle(request.room, request.queue, acks=tokens)).acks
        return queues_pb2.AckResponse(results=convert.settle_results_to_proto(tokens, outcomes))

    @rpc_errors
    async def Nack(self, request: queues_pb2.NackRequest,
                   context: Context) -> queues_pb2.NackResponse:
        outcomes = (await self._backend.settle(
            request.room, request.queue, nacks=convert.nacks_from_proto(request.nacks))).nacks
        tokens = [n.lease_token for n in request.nacks]
        return queues_pb2.NackResponse(results=convert.settle_results_to_proto(tokens, outcomes))

    @rpc_errors
    async def ExtendLease(self, request: queues_pb2.ExtendLeaseRequest,
                          context: Context) -> queues_pb2.ExtendLeaseResponse:
        outcomes = (await self._backend.settle(
            request.room, request.queue,
            extends=convert.extends_from_proto(request.extends))).extends
        tokens = [e.lease_token for e in request.extends]
        return queues_pb2.ExtendLeaseResponse(
            results=convert.settle_results_to_proto(tokens, outcomes))

    @rpc_errors
    async def OpenQueue(self, request: queues_pb2.OpenQueueRequest,
                        context: Context) -> queues_pb2.OpenQueueResponse:
        options = convert.options_from_proto(request.options,
                                             await self._current_options(request))
        info = await self._backend.open_queue(request.room, request.queue, options)
        return queues_pb2.OpenQueueResponse(queue=convert.queue_info_to_proto(info))

    async def _current_options(self, request: queues_pb2.OpenQueueRequest
                               ) -> QueueOptions | None:
        """The queue's options now, so zero fields keep them; None when it does not exist."""
        try:
            return (await self._backend.queue_info(request.room, request.queue)).options
        except MeshqError:  # missing or a bad name: open_queue reports it
            return None

    @rpc_errors
    async def CloseQueue(self, request: queues_pb2.CloseQueueRequest,
                         context: Context) -> queues_pb2.CloseQueueResponse:
        await self._backend.close_queue(request.room, request.queue)
        return queues_pb2.CloseQueueResponse()

    @rpc_errors
    async def DrainQueue(self, request: queues_pb2.DrainQueueRequest,
                         context: Context) -> queues_pb2.DrainQueueResponse:
        removed = await self._backend.drain_queue(request.room, request.queue)
        return queues_pb2.DrainQueueResponse(removed=removed)

    @rpc_errors
    async def DeleteQueue(self, request: queues_pb2.DeleteQueueRequest,
                          context: Context) -> queues_pb2.DeleteQueueResponse:
        await self._backend.delete_queue(request.room, request.queue)
        return queues_pb2.DeleteQueueResponse()

    @rpc_errors
    async def ListQueues(self, request: queues_pb2.ListQueuesRequest,
                         context: Context) -> queues_pb2.ListQueuesResponse:
        queues = sorted(await self._backend.list_queues(request.room), key=lambda q: q.name)
        return queues_pb2.ListQueuesResponse(
            queues=[convert.queue_info_to_proto(q) for q in queues])

    @rpc_errors
    async def PeekQueue(self, request: queues_pb2.PeekQueueRequest,
                        context: Context) -> queues_pb2.PeekQueueResponse:
        messages = await self._backend.peek(request.room, request.queue,
                                           request.max_messages or 10)
        return queues_pb2.PeekQueueResponse(messages=convert.deliveries_to_proto(messages))

    @rpc_errors
    async def RedriveQueue(self, request: queues_pb2.RedriveQueueRequest,
                           context: Context) -> queues_pb2.RedriveQueueResponse:
        moved = await self._backend.redrive(request.room, request.queue,
                                           max_messages=request.max_messages)
        return queues_pb2.RedriveQueueResponse(moved=moved)

    @rpc_errors
    async def GetMessage(self, request: queues_pb2.GetMessageRequest,
                         context: Context) -> queues_pb2.GetMessageResponse:
        state, attempt = await self._backend.message_state(request.room, request.queue,
                                                          request.message_id)
        return queues_pb2.GetMessageResponse(state=convert.message_state_to_proto(state),
                                             attempt=attempt)
