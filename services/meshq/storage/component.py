"""The storage component that `meshq up` / `meshq serve` host."""

from __future__ import annotations

from meshq.server.context import StackContext
from meshq.server.handlers import ServiceRegistry
from meshq.storage.backend import FileStorage
from meshq.storage.servicer import StorageServicer
from meshq.v1 import storage_pb2_grpc


class StorageComponent:
    """Serves meshq.v1.StorageService over a ``FileStorage``."""

    service_names: tuple[str, ...] = ("meshq.v1.StorageService",)

    def __init__(self, storage: FileStorage) -> None:
        self.storage = storage

    async def start(self) -> None:
        await self.storage.start()

    def register(self, server: ServiceRegistry) -> None:
        storage_pb2_grpc.add_StorageServiceServicer_to_server(StorageServicer(self.storage), server)

    async def stop(self) -> None:
        """Nothing to close: every call opens and closes its own files."""


def build_component(ctx: StackContext) -> StorageComponent:
    """Storage under ``<data_dir>/storage`` (or in the database); ``ctx.settings.storage``."""
    max_bytes = ctx.settings.storage.max_file_bytes
    if ctx.database is not None:  # --database-url: docs/postgres.md
        from meshq.postgres.component import storage_for

        return StorageComponent(storage_for(ctx, max_bytes))
    return StorageComponent(FileStorage(ctx.data_dir / "storage", max_file_bytes=max_bytes))
