"""The remote enqueuer reads the SDK's typed errors (``meshq.api.errors``): what means "try again
later" keeps the fire SENDING (``Unavailable``); the rest is the fire's recorded failure."""

from __future__ import annotations

import grpc
import pytest

from meshq.api import errors as sdk
from meshq.core import errors
from meshq.scheduler.enqueuer import domain_error


@pytest.mark.parametrize("code,expected", [
    (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
    (grpc.StatusCode.DEADLINE_EXCEEDED, errors.Unavailable),
    (grpc.StatusCode.CANCELLED, errors.Unavailable),
    (grpc.StatusCode.UNKNOWN, errors.Unavailable),
    (grpc.StatusCode.NOT_FOUND, errors.NotFound),
    (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgument),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
    (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
])
def test_sdk_errors_become_the_schedulers_domain_errors(code: grpc.StatusCode,
                                                        expected: type) -> None:
    typed = sdk.STATUS_ERRORS[code](code, "what the server said")
    raw = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "what the server said")
    for err in (typed, raw):
        mapped = domain_error(err)
        assert type(mapped) is expected and "what the server said" in mapped.message
