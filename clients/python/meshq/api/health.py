"""The standard gRPC health check (``grpc.health.v1.Health/Check``) without its package.

meshq servers answer the standard health service: ``""`` for the whole server and one name
per hosted service (``meshq.v1.QueueService`` …; NOT_FOUND for one not hosted). The two
messages have one field each, so they are encoded here and the client install needs no
``grpcio-health-checking``.

    status = await check(conn, "meshq.v1.QueueService")   # "SERVING", "NOT_SERVING", ...
"""

from __future__ import annotations

import grpc

from meshq.api.connection import Connection
from meshq.api.errors import NotFound, from_rpc_error

CHECK_METHOD = "/grpc.health.v1.Health/Check"
# HealthCheckResponse.ServingStatus, by number
STATUSES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
NOT_HOSTED = "NOT_HOSTED"  # the server answered NOT_FOUND: it does not host that service


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_request(service: str) -> bytes:
    """HealthCheckRequest{service}: field 1, length-delimited."""
    data = service.encode()
    return b"\x0a" + _varint(len(data)) + data if data else b""


def decode_response(data: bytes) -> str:
    """HealthCheckResponse -> the status name (field 1, a varint; absent means UNKNOWN)."""
    if len(data) >= 2 and data[0] == 0x08:
        value = data[1] & 0x7F
        return STATUSES[value] if value < len(STATUSES) else f"STATUS_{value}"
    return STATUSES[0]


async def check(conn: Connection, service: str = "", *, timeout: float | None = None) -> str:
    """The server's health status for ``service`` ("" = the whole server), or NOT_HOSTED.

    Raises the ``meshq.api.errors`` class of any other failure (``Unavailable`` when the
    server cannot be reached)."""
    call = conn.channel.unary_unary(CHECK_METHOD, request_serializer=encode_request,
                                    response_deserializer=decode_response)
    try:
        status: str = await call(service, **conn.call_options(timeout))
    except grpc.aio.AioRpcError as err:
        typed = from_rpc_error(err)
        if isinstance(typed, NotFound):
            return NOT_HOSTED
        raise typed from None
    return status
