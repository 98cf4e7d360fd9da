"""Proto <-> domain conversion for the Storage service, and nowhere else."""

from __future__ import annotations

from meshq.storage.disk import FileEntry
from meshq.v1 import storage_pb2


def file_info_to_proto(entry: FileEntry) -> storage_pb2.FileInfo:
    return storage_pb2.FileInfo(
        path=entry.path,
        size=entry.size,
        modified_at_unix_ms=entry.modified_at_unix_ms,
        is_dir=entry.is_dir,
    )


def file_info_from_proto(info: storage_pb2.FileInfo) -> FileEntry:
    return FileEntry(
        path=info.path,
        size=info.size,
        modified_at_unix_ms=info.modified_at_unix_ms,
        is_dir=info.is_dir,
    )
