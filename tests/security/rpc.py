"""Call any RPC by its descriptor with a message (or raw bytes) and get back its status."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc


def full_name(method: Any) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _serialize(message: Any) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def _identity(raw: bytes) -> bytes:
    return raw


async def call(channel: grpc.aio.Channel, method: Any, request: Any, *,
               token: str | None = None, timeout: float = 5.0,
               frames: list[Any] | None = None) -> tuple[grpc.StatusCode, str]:
    """Send ``request`` (for client streams: ``frames``, default ``[request]``) and return
    the final status code and details. Responses are read and dropped."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    path = full_name(method)
    kwargs = {"request_serializer": _serialize, "response_deserializer": _identity}
    sent = frames if frames is not None else [request]
    try:
        if not method.client_streaming and not method.server_streaming:
            await channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=timeout)
        elif not method.client_streaming:
            stream = channel.unary_stream(path, **kwargs)(request, metadata=metadata,
                                                            timeout=timeout)
            async for _ in stream:
                pass
        else:
            return await _client_stream(channel, method, path, sent, metadata, timeout)
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


async def _client_stream(channel: grpc.aio.Channel, method: Any, path: str, frames: list[Any],
                         metadata: Any, timeout: float) -> tuple[grpc.StatusCode, str]:
    """Write frames one by one and stop when the server has already answered: an iterator
    writing after the server's status makes the grpc client report a local INTERNAL."""
    kwargs = {"request_serializer": _serialize, "response_deserializer": _identity}
    factory = channel.stream_stream if method.server_streaming else channel.stream_unary
    call = factory(path, **kwargs)(metadata=metadata, timeout=timeout)
    for frame in frames:
        if call.done():
            break
        try:
            await call.write(frame)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            break
    if not call.done():
        try:
            await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
    try:
        if method.server_streaming:
            while await call.read() is not grpc.aio.EOF:
                pass
        else:
            await call
    except grpc.aio.AioRpcError:
        pass
    return await call.code(), await call.details() or ""
