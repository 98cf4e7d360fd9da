"""The domain error tree. Each error's docstring is its default message.

Servicers never build gRPC statuses themselves: ``meshq.server.status`` maps these errors to
status codes in one place, by the ``status`` name each class carries.
"""

from __future__ import annotations


class MeshqError(Exception):
    """meshq failed."""

    status = "INTERNAL"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidArgument(MeshqError):
    """A request field is invalid."""

    status = "INVALID_ARGUMENT"


class NotFound(MeshqError):
    """The thing named does not exist."""

    status = "NOT_FOUND"


class AlreadyExists(MeshqError):
    """The thing named exists already."""

    status = "ALREADY_EXISTS"


class FailedPrecondition(MeshqError):
    """The thing named is not in a state that allows this call."""

    status = "FAILED_PRECONDITION"


class ResourceExhausted(MeshqError):
    """A limit was reached."""

    status = "RESOURCE_EXHAUSTED"


class Unauthenticated(MeshqError):
    """The request carries no valid token."""

    status = "UNAUTHENTICATED"


class PermissionDenied(MeshqError):
    """The token does not allow this call."""

    status = "PERMISSION_DENIED"


class Unavailable(MeshqError):
    """The service is shutting down or cannot reach a dependency."""

    status = "UNAVAILABLE"
