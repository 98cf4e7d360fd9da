"""The one place where domain errors become gRPC statuses.

Servicer methods are wrapped with ``@rpc_errors``: a ``MeshqError`` aborts the call with its
status and one-line message (cut to ``MAX_STATUS_MESSAGE_CHARS``: values in it are echoed
through ``meshq.core.validation.shown``, this is the guard for one that is not); any other exception is logged with its traceback and answered
INTERNAL with a generic message, so no traceback or secret ever reaches a caller.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from meshq.core.errors import MeshqError
from meshq.core.validation import bounded_message

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def status_code(err: MeshqError) -> grpc.StatusCode:
    return grpc.StatusCode[err.status]


async def _abort(context: grpc.aio.ServicerContext, err: BaseException, method: str) -> None:
    if isinstance(err, MeshqError):
        await context.abort(status_code(err), bounded_message(err.message))
    logger.exception("unexpected error in %s", method, exc_info=err)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see server log")


def rpc_errors(method: F) -> F:
    """Map domain errors raised by a servicer method (unary or streaming) to statuses."""
    name = method.__qualname__
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(self: Any, request: Any, context: Any) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as err:
                await _abort(context, err, name)

        return stream_wrapper  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary_wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            await _abort(context, err, name)

    return unary_wrapper  # type: ignore[return-value]
