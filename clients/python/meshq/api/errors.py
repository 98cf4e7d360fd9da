"""Typed exceptions for the statuses a meshq server answers with: one table, client side.

Every unary call of the SDK raises a subclass of ``MeshqRpcError`` when it fails, chosen by
the call's gRPC status from ``STATUS_ERRORS`` (as Temporal's client raises ``RPCError`` with
a status); the CLI's exit codes are read from the same classes (docs/cli.md). Each class is
also a ``grpc.aio.AioRpcError``, so code that catches that and reads ``err.code()`` keeps
working. The server keeps the one mapping the other way (``meshq.server.status``).

    try:
        await room.queues.message_state("jobs", message_id)
    except errors.NotFound:
        ...
"""

from __future__ import annotations

import grpc


class MeshqRpcError(grpc.aio.AioRpcError):
    """The server refused the call; ``details()`` says why (the base of every class here)."""

    def __init__(self, code: grpc.StatusCode, details: str = "",
                 initial_metadata: grpc.aio.Metadata | None = None,
                 trailing_metadata: grpc.aio.Metadata | None = None,
                 debug_error_string: str | None = None) -> None:
        super().__init__(code, initial_metadata or grpc.aio.Metadata(),
                         trailing_metadata or grpc.aio.Metadata(), details, debug_error_string)

    @property
    def message(self) -> str:
        """The server's one-line message (the status name when it gave none)."""
        return self.details() or self.code().name

    def __str__(self) -> str:
        return f"{self.code().name}: {self.message}"


class InvalidArgument(MeshqRpcError):
    """The request is malformed: the message names the field and what to fix."""


class NotFound(MeshqRpcError):
    """The room, queue, message, file, task or pool does not exist."""


class AlreadyExists(MeshqRpcError):
    """Something with that name exists already."""


class FailedPrecondition(MeshqRpcError):
    """The request is valid but not in the current state (a closed queue, a non-empty room)."""


class ResourceExhausted(MeshqRpcError):
    """A limit was reached (queue depth, queues per room, message size, streams per token)."""


class Aborted(MeshqRpcError):
    """The call was aborted by a concurrent change; retrying it is safe."""


class Denied(MeshqRpcError):
    """The token does not allow the call (the base of ``Unauthenticated`` and
    ``PermissionDenied``)."""


class Unauthenticated(Denied):
    """No token, an invalid one, or an expired one."""


class PermissionDenied(Denied):
    """The token is valid but its grants do not cover this room, queue or path."""


class Unreachable(MeshqRpcError):
    """The server could not be reached or did not answer in time (the base of
    ``Unavailable`` and ``DeadlineExceeded``); retrying later may succeed."""


class Unavailable(Unreachable):
    """The server is not running at that address, or is shutting down."""


class DeadlineExceeded(Unreachable):
    """The call's deadline passed before the server answered."""


class Cancelled(MeshqRpcError):
    """The call was cancelled (by the caller, or the server stopping)."""


class Unimplemented(MeshqRpcError):
    """The server does not offer this call (an older server, or the service is not hosted)."""


class Internal(MeshqRpcError):
    """The server failed; its log has the traceback."""


STATUS_ERRORS: dict[grpc.StatusCode, type[MeshqRpcError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.DATA_LOSS: Internal,
    grpc.StatusCode.UNKNOWN: Internal,
}
"""The status of a failed call -> the class raised (the one table; OK never fails)."""


def error_class(code: grpc.StatusCode) -> type[MeshqRpcError]:
    return STATUS_ERRORS.get(code, MeshqRpcError)


def from_rpc_error(err: grpc.RpcError) -> MeshqRpcError:
    """The typed exception for a failed call (``err`` itself when it is typed already)."""
    if isinstance(err, MeshqRpcError):
        return err
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = err.details() if callable(getattr(err, "details", None)) else str(err)
    if isinstance(err, grpc.aio.AioRpcError):
        return error_class(code)(code, details or "", err.initial_metadata(),
                                 err.trailing_metadata(), err.debug_error_string())
    return error_class(code)(code, details or "")


def make_error(code: grpc.StatusCode, details: str) -> MeshqRpcError:
    """The typed exception the server would have raised with ``code`` (for client-side
    deadlines and checks that speak the same language)."""
    return error_class(code)(code, details)
