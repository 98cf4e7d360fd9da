"""One server interceptor that authenticates and authorises every RPC of every service.

For each call: health and reflection pass; everything else needs ``authorization: Bearer
<JWT>`` signed with the server's API key (UNAUTHENTICATED otherwise), and an entry in
``RPC_TABLE`` (PERMISSION_DENIED otherwise). The method handler is wrapped so that the
request — the first frame of a client stream — is checked against the rule (room and grant)
before the servicer sees it, and the verified ``Principal`` is set for
``meshq.security.context``. Streams count against a per-token limit (RESOURCE_EXHAUSTED)
and end with UNAUTHENTICATED when their token expires.

Servicers with client streams must iterate ``request_iterator`` (not ``context.read()``):
the wrapper hands them the checked first frame through it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from meshq.api.tokens import DEFAULT_AUDIENCE, InvalidToken, ParticipantToken
from meshq.core.errors import InvalidArgument, MeshqError
from meshq.core.validation import bounded_message
from meshq.security import checks
from meshq.security.context import set_principal
from meshq.security.principal import Principal, token_key
from meshq.security.rpc_table import EXEMPT_SERVICES, RPC_TABLE, Rule, service_of

logger = logging.getLogger(__name__)

DEFAULT_MAX_STREAMS_PER_TOKEN = 256  # open streams (Subscribe, WriteFile, ReadFile) per token
DRAIN_MAX_FRAMES = 64  # frames of a refused client stream read before the refusal is sent
DRAIN_SECONDS = 1.0  # and at most this long

Handler: TypeAlias = Any  # grpc.RpcMethodHandler (a namedtuple at run time)


class _Undecodable:
    """Stands for request bytes that did not parse; the behaviour answers INVALID_ARGUMENT."""


_UNDECODABLE = _Undecodable()


def _safe_deserializer(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        if deserialize is None:
            return raw
        try:
            return deserialize(raw)
        except DecodeError:
            return _UNDECODABLE

    return parse


def _rebuild(handler: Handler, behavior: Callable[..., Any],
             deserializer: Callable[[bytes], Any]) -> Handler:
    """A handler of the same kind as ``handler`` that runs ``behavior``."""
    kind = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return kind(behavior, request_deserializer=deserializer,
                response_serializer=handler.response_serializer)


def _refusal(handler: Handler, code: grpc.StatusCode, message: str) -> Handler:
    """A handler that answers ``code`` without parsing the request."""
    if handler.response_streaming:
        async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await _refuse(handler, request, context, code, message)
            yield  # pragma: no cover - abort raises

        return _rebuild(handler, refuse_stream, lambda raw: raw)

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await _refuse(handler, request, context, code, message)

    return _rebuild(handler, refuse, lambda raw: raw)


async def _refuse(handler: Handler, request: Any, context: grpc.aio.ServicerContext,
                  code: grpc.StatusCode, message: str) -> None:
    if handler.request_streaming:
        await _drain(request)
    await context.abort(code, bounded_message(message))


async def _drain(requests: AsyncIterator[Any]) -> None:
    """Read what a client stream already sent (bounded) before refusing it.

    A grpc client that is still writing frames when the server's status arrives reports a
    local INTERNAL ("Internal error from Core") instead of the server's status; draining the
    frames in flight lets it see the real refusal. Bounded in frames and time, so a hostile
    stream cannot hold the refusal open.
    """
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            count = 0
            async for _ in requests:
                count += 1
                if count >= DRAIN_MAX_FRAMES:
                    return
    except Exception:  # the stream failed or timed out: refuse now
        return


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


# Verified tokens are cached until they expire: an HS256 check per call is measurable on the
# hot Send path, and the signature cannot change for the same token string. Bounded: a flood
# of distinct tokens just clears the cache.
VERIFIED_CACHE_SIZE = 4096


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticate, authorise against ``RPC_TABLE``, limit and time-box streams."""

    def __init__(self, api_key: str, *, audience: str = DEFAULT_AUDIENCE,
                 max_streams_per_token: int = DEFAULT_MAX_STREAMS_PER_TOKEN,
                 table: dict[str, Rule] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not api_key:
            raise ValueError("AuthInterceptor needs the server's API key")
        self._api_key = api_key
        self._audience = audience
        self._max_streams = max_streams_per_token
        self._table = RPC_TABLE if table is None else table
        self._clock = clock
        self._open_streams: dict[str, int] = defaultdict(int)
        self._verified: dict[str, Principal] = {}

    def open_streams(self, raw_token: str) -> int:
        """How many streams are open with this token now."""
        return self._open_streams.get(token_key(raw_token), 0)

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or service_of(method) in EXEMPT_SERVICES:
            return handler
        principal, problem = self.authenticate(handler_call_details.invocation_metadata)
        if principal is None:
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, problem)
        rule = self._table.get(method)
        if rule is None:
            logger.error("refused %s: the RPC is not in the authorization table", method)
            return _refusal(handler, grpc.StatusCode.PERMISSION_DENIED,
                            f"{method} is not in the authorization table")
        return self._guarded(handler, rule, principal)

    def authenticate(self, metadata: Any) -> tuple[Principal | None, str]:
        """The verified principal, or None and a message that never echoes the token."""
        raw = _bearer(metadata)
        if raw is None:
            return None, "missing 'authorization: Bearer <token>' metadata"
        cached = self._verified.get(raw)
        if cached is not None and self._clock() < cached.expires_at:
            return cached, ""
        try:
            token = ParticipantToken.from_jwt(raw, api_key=self._api_key,
                                              audience=self._audience)
        except InvalidToken as err:
            self._verified.pop(raw, None)
            return None, str(err)
        principal = Principal.from_token(token, raw)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[raw] = principal
        return principal, ""

    # -- wrapping --------------------------------------------------------------------------

    def _guarded(self, handler: Handler, rule: Rule, principal: Principal) -> Handler:
        inner = (handler.unary_unary or handler.unary_stream or handler.stream_unary
                 or handler.stream_stream)
        deserializer = _safe_deserializer(handler.request_deserializer)
        if not handler.request_streaming and not handler.response_streaming:
            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await self._admit(rule, principal, request, context)
                return await inner(request, context)

            return _rebuild(handler, unary, deserializer)

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self._stream_slot(principal, context):
                if handler.request_streaming:
                    first, request = await self._first_frame(request, context)
                    await self._admit(rule, principal, first, context, rest=request)
                else:
                    await self._admit(rule, principal, request, context)
                result = inner(request, context)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        if self._clock() >= principal.expires_at:
                            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "token expired")
                        yield item
                else:
                    response = await result
                    if response is not None and not handler.response_streaming:
                        yield response

        if handler.response_streaming:
            return _rebuild(handler, stream, deserializer)

        async def stream_in(request: Any, context: grpc.aio.ServicerContext) -> Any:
            responses = [item async for item in stream(request, context)]
            return responses[0] if responses else None

        return _rebuild(handler, stream_in, deserializer)

    async def _admit(self, rule: Rule, principal: Principal, request: Any,
                     context: grpc.aio.ServicerContext,
                     rest: AsyncIterator[Any] | None = None) -> None:
        """Check the request against the rule and make the principal current, or abort
        (after draining ``rest``, the frames a client stream sent after the first)."""
        try:
            if isinstance(request, _Undecodable):
                raise checks.undecodable("request message")
            checks.check_request(rule, principal, request)
        except MeshqError as err:
            if rest is not None:
                await _drain(rest)
            await context.abort(grpc.StatusCode[err.status], bounded_message(err.message))
        set_principal(principal)

    async def _first_frame(self, requests: AsyncIterator[Any],
                           context: grpc.aio.ServicerContext) -> tuple[Any, AsyncIterator[Any]]:
        iterator = aiter(requests)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "the stream ended before its first frame")

        async def replay() -> AsyncIterator[Any]:
            yield first
            async for frame in iterator:
                if isinstance(frame, _Undecodable):
                    raise InvalidArgument("a stream frame is not a valid request message")
                yield frame

        return first, replay()

    @asynccontextmanager
    async def _stream_slot(self, principal: Principal,
                           context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """Count the stream against its token, and end it when the token expires."""
        key = principal.token_key
        if self._open_streams[key] >= self._max_streams:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"this token already has {self._max_streams} open streams")
        self._open_streams[key] += 1
        task = asyncio.current_task()
        expired = asyncio.Event()
        handle = asyncio.get_running_loop().call_later(
            max(principal.expires_at - self._clock(), 0.0), _expire, task, expired)
        try:
            yield
        except asyncio.CancelledError:
            if not expired.is_set() or task is None:
                raise
            task.uncancel()
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "token expired")
        finally:
            handle.cancel()
            self._open_streams[key] -= 1
            if self._open_streams[key] <= 0:
                del self._open_streams[key]


def _expire(task: asyncio.Task[Any] | None, expired: asyncio.Event) -> None:
    expired.set()
    if task is not None and not task.done():
        task.cancel()
