"""What a person sees when the server refuses something: one sentence, never a trace."""

from __future__ import annotations

import grpc

# A short lead for each status the server answers with; the server's own detail follows it.
_LEADS = {
    grpc.StatusCode.PERMISSION_DENIED: "Not allowed",
    grpc.StatusCode.UNAUTHENTICATED: "Not signed in",
    grpc.StatusCode.NOT_FOUND: "Not found",
    grpc.StatusCode.INVALID_ARGUMENT: "Invalid input",
    grpc.StatusCode.ALREADY_EXISTS: "Already exists",
    grpc.StatusCode.FAILED_PRECONDITION: "Refused",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "Over a limit",
    grpc.StatusCode.UNAVAILABLE: "The meshq server cannot be reached",
    grpc.StatusCode.DEADLINE_EXCEEDED: "The meshq server did not answer in time",
}
HTTP_STATUS = {
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.UNAVAILABLE: 502,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class BadInput(Exception):
    """Input the Studio refuses before calling the server; the message says what to fix."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of the page that says so (404 for something not there)."""


def rpc_message(err: grpc.aio.AioRpcError) -> str:
    """``"Not allowed: <the server's reason>"``."""
    code = err.code()
    lead = _LEADS.get(code, f"Refused ({code.name})")
    detail = (err.details() or "").strip()
    return f"{lead}: {detail}" if detail else lead


def http_status(err: grpc.aio.AioRpcError) -> int:
    return HTTP_STATUS.get(err.code(), 500)
