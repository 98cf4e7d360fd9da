"""The storage component that `meshq up` / `meshq serve` host."""

from __future__ import annotations

import grpc

from meshq.server.context import StackContext
from meshq.storage.backend import DEFAULT_MAX_FILE_BYTES, FileStorage
from meshq.storage.servicer import StorageServicer
from meshq.v1 import storage_pb2_grpc


class StorageComponent:
    """Serves meshq.v1.StorageService over a ``FileStorage``."""

    service_names: tuple[str, ...] = ("meshq.v1.StorageService",)

    def __init__(self, storage: FileStorage) -> None:
        self.storage = storage

    async def start(self) -> None:
        await self.storage.start()

    def register(self, server: grpc.aio.Server) -> None:
        storage_pb2_grpc.add_StorageServiceServicer_to_server(StorageServicer(self.storage), server)

    async def stop(self) -> None:
        """Nothing to close: every call opens and closes its own files."""


def build_component(ctx: StackContext) -> StorageComponent:
    """Storage under ``<data_dir>/storage``; settings: ``max_file_bytes`` (default 100 MiB)."""
    max_bytes = int(ctx.settings.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES))
    if ctx.settings.get("postgres") is not None:  # --database-url: docs/postgres.md
        from meshq.postgres.component import storage_for

        return StorageComponent(storage_for(ctx, max_bytes))
    return StorageComponent(FileStorage(ctx.data_dir / "storage", max_file_bytes=max_bytes))
