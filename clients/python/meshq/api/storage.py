"""Room storage from Python: ``room.storage.write("poem.txt", text)`` and friends.

Every call carries the connection's token and a deadline (``conn.timeout`` unless the call
passes ``timeout=``; streaming a large file may need a longer one). Failures are
``grpc.aio.AioRpcError`` with the server's status: INVALID_ARGUMENT for a bad or escaping
path, NOT_FOUND, ALREADY_EXISTS (no overwrite), FAILED_PRECONDITION (a folder where a file is
expected, or a non-empty folder deleted without ``recursive``), RESOURCE_EXHAUSTED (too big).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import grpc

from meshq.api.connection import Connection
from meshq.api.errors import from_rpc_error
from meshq.v1 import storage_pb2, storage_pb2_grpc

FRAME_BYTES = 1024 * 1024  # one WriteFile frame: well under gRPC's default 4 MiB message limit


@dataclass(frozen=True)
class FileInfo:
    """A stored file or folder."""

    path: str
    """Relative to the room, "/"-separated."""
    size: int
    """Bytes (0 for a folder)."""
    modified_at_unix_ms: int
    """Last change, milliseconds since the Unix epoch."""
    is_dir: bool

    @classmethod
    def from_proto(cls, info: storage_pb2.FileInfo) -> FileInfo:
        return cls(path=info.path, size=info.size, modified_at_unix_ms=info.modified_at_unix_ms,
                   is_dir=info.is_dir)

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "is_dir": self.is_dir,
                "modified_at_unix_ms": self.modified_at_unix_ms}


class StorageClient:
    """The files of one room."""

    def __init__(self, conn: Connection, room: str) -> None:
        self._conn = conn
        self.room = room

    @property
    def _stub(self) -> storage_pb2_grpc.StorageServiceStub:
        return self._conn.stub(storage_pb2_grpc.StorageServiceStub)

    def _timeout(self, timeout: float | None) -> float:
        return self._conn.timeout if timeout is None else timeout

    async def write(
        self,
        path: str,
        data: bytes | str | AsyncIterable[bytes],
        *,
        overwrite: bool = True,
        timeout: float | None = None,
    ) -> FileInfo:
        """Store ``data`` (str is UTF-8) at ``path`` atomically; parent folders are created."""
        frames = self._frames(path, data, overwrite)
        try:
            response = await self._stub.WriteFile(
                frames, **self._conn.call_options(self._timeout(timeout)))
        except grpc.aio.AioRpcError as err:  # a stream call: typed here, not by conn.stub
            raise from_rpc_error(err) from None
        return FileInfo.from_proto(response.file)

    async def _frames(
        self, path: str, data: bytes | str | AsyncIterable[bytes], overwrite: bool
    ) -> AsyncIterator[storage_pb2.WriteFileRequest]:
        yield storage_pb2.WriteFileRequest(room=self.room, path=path, overwrite=overwrite)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if isinstance(data, bytes | bytearray | memoryview):
            view = memoryview(data)
            for start in range(0, len(view), FRAME_BYTES):
                yield storage_pb2.WriteFileRequest(data=bytes(view[start:start + FRAME_BYTES]))
            return
        async for chunk in data:
            view = memoryview(chunk)
            for start in range(0, len(view), FRAME_BYTES):
                yield storage_pb2.WriteFileRequest(data=bytes(view[start:start + FRAME_BYTES]))

    async def read_stream(
        self, path: str, offset: int = 0, length: int = 0, *, timeout: float | None = None
    ) -> AsyncIterator[bytes]:
        """The file's bytes from ``offset`` (at most ``length``; 0: to the end), in chunks."""
        call = self._stub.ReadFile(
            storage_pb2.ReadFileRequest(room=self.room, path=path, offset=offset, length=length),
            **self._conn.call_options(self._timeout(timeout)))
        try:
            async for frame in call:
                yield frame.data
        except grpc.aio.AioRpcError as err:  # a stream call: typed here, not by conn.stub
            raise from_rpc_error(err) from None
        finally:
            call.cancel()  # a no-op once the stream has ended; frees it if the caller stops early

    async def read(
        self, path: str, offset: int = 0, length: int = 0, *, timeout: float | None = None
    ) -> bytes:
        """The file's bytes from ``offset`` (at most ``length``; 0: to the end)."""
        parts = [chunk async for chunk in self.read_stream(path, offset, length, timeout=timeout)]
        return b"".join(parts)

    async def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        """Entries of a folder ("" is the room), sorted by path; a file lists as itself."""
        response = await self._stub.ListFiles(
            storage_pb2.ListFilesRequest(room=self.room, path=path, recursive=recursive),
            **self._conn.call_options())
        return [FileInfo.from_proto(f) for f in response.files]

    async def stat(self, path: str) -> FileInfo:
        response = await self._stub.StatFile(
            storage_pb2.StatFileRequest(room=self.room, path=path),
            **self._conn.call_options())
        return FileInfo.from_proto(response.file)

    async def exists(self, path: str) -> bool:
        try:
            await self.stat(path)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def delete(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a folder (non-empty only with ``recursive``)."""
        await self._stub.DeleteFile(
            storage_pb2.DeleteFileRequest(room=self.room, path=path, recursive=recursive),
            **self._conn.call_options())

    async def move(self, src: str, dst: str, overwrite: bool = False) -> FileInfo:
        """Rename within the room; ``dst``'s parent folders are created."""
        response = await self._stub.MoveFile(
            storage_pb2.MoveFileRequest(room=self.room, source=src, destination=dst,
                                        overwrite=overwrite),
            **self._conn.call_options())
        return FileInfo.from_proto(response.file)
