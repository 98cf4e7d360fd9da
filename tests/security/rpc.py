"""Call any RPC by its descriptor with a message (or raw bytes) and get back its status."""

from __future__ import annotations

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
        elif not method.server_streaming:
            await channel.stream_unary(path, **kwargs)(iter(sent), metadata=metadata,
                                                       timeout=timeout)
        else:
            stream = channel.stream_stream(path, **kwargs)(iter(sent), metadata=metadata,
                                                             timeout=timeout)
            async for _ in stream:
                pass
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""
