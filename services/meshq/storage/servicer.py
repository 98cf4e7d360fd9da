"""meshq.v1.StorageService: a thin translation between the protos and ``FileStorage``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import grpc

from meshq.core.errors import InvalidArgument
from meshq.server.status import rpc_errors
from meshq.storage.backend import FileStorage
from meshq.storage.convert import file_info_to_proto
from meshq.v1 import storage_pb2, storage_pb2_grpc

logger = logging.getLogger(__name__)


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    """Each RPC validates through the backend; domain errors become statuses in rpc_errors."""

    def __init__(self, storage: FileStorage) -> None:
        self._storage = storage

    @rpc_errors
    async def WriteFile(
        self,
        request_iterator: AsyncIterator[storage_pb2.WriteFileRequest],
        context: grpc.aio.ServicerContext,
    ) -> storage_pb2.WriteFileResponse:
        frames = aiter(request_iterator)
        first = await anext(frames, None)
        if first is None or not first.room or not first.path:
            raise InvalidArgument("the first WriteFile frame must name room and path")
        entry = await self._storage.write(
            first.room, first.path, _data(first, frames), overwrite=first.overwrite)
        return storage_pb2.WriteFileResponse(file=file_info_to_proto(entry))

    @rpc_errors
    async def ReadFile(
        self, request: storage_pb2.ReadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[storage_pb2.ReadFileResponse]:
        chunks = self._storage.read(
            request.room, request.path, offset=request.offset, length=request.length)
        async with contextlib.aclosing(chunks):
            async for data in chunks:
                yield storage_pb2.ReadFileResponse(data=data)

    @rpc_errors
    async def ListFiles(
        self, request: storage_pb2.ListFilesRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.ListFilesResponse:
        entries = await self._storage.list(request.room, request.path, recursive=request.recursive)
        return storage_pb2.ListFilesResponse(files=[file_info_to_proto(e) for e in entries])

    @rpc_errors
    async def StatFile(
        self, request: storage_pb2.StatFileRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.StatFileResponse:
        entry = await self._storage.stat(request.room, request.path)
        return storage_pb2.StatFileResponse(file=file_info_to_proto(entry))

    @rpc_errors
    async def DeleteFile(
        self, request: storage_pb2.DeleteFileRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.DeleteFileResponse:
        await self._storage.delete(request.room, request.path, recursive=request.recursive)
        return storage_pb2.DeleteFileResponse()

    @rpc_errors
    async def MoveFile(
        self, request: storage_pb2.MoveFileRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.MoveFileResponse:
        entry = await self._storage.move(
            request.room, request.source, request.destination, overwrite=request.overwrite)
        return storage_pb2.MoveFileResponse(file=file_info_to_proto(entry))


async def _data(
    first: storage_pb2.WriteFileRequest, rest: AsyncIterator[storage_pb2.WriteFileRequest]
) -> AsyncIterator[bytes]:
    """The data of every frame; a later frame may repeat room and path but not change them."""
    if first.data:
        yield first.data
    async for frame in rest:
        if (frame.room and frame.room != first.room) or (frame.path and frame.path != first.path):
            raise InvalidArgument("a WriteFile stream must not change room or path after its "
                                  "first frame")
        if frame.data:
            yield frame.data
