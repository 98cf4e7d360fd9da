"""One gRPC channel to a meshq server, with the token and deadline every call carries.

Every SDK client (queues, storage, scheduler, pools) takes a ``Connection`` and calls
``conn.stub(StubClass)``, ``conn.metadata`` and ``conn.timeout``; nothing else opens
channels. Unary calls made through ``conn.stub`` raise the typed exceptions of
``meshq.api.errors`` when they fail. The token comes from, in order: the ``token`` argument, ``$MESHQ_TOKEN``, the admin
token that ``meshq up`` / ``meshq setup`` wrote into the local data dir.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, TypeVar

import grpc

from meshq.api.errors import from_rpc_error
from meshq.api.paths import admin_token_path, default_server

DEFAULT_TIMEOUT = 30.0  # seconds: the deadline of every unary call unless the caller sets one
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # gRPC frame limit, above any configured message size

StubT = TypeVar("StubT")


class InsecureChannelRefused(ValueError):
    """Plaintext to a non-loopback server is refused: pass tls_ca, or insecure=True."""


def is_loopback(server: str) -> bool:
    """True when the host part of ``host:port`` is a loopback address or localhost."""
    host = server.rsplit(":", 1)[0].strip("[]")
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def discover_token(data_dir: Path | None = None) -> str | None:
    """``$MESHQ_TOKEN``, else the local admin token file, else None."""
    env = os.environ.get("MESHQ_TOKEN")
    if env:
        return env.strip()
    path = admin_token_path(data_dir)
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class Connection:
    """A lazily opened ``grpc.aio`` channel plus the call metadata and default deadline."""

    def __init__(
        self,
        *,
        server: str | None = None,
        token: str | None = None,
        tls_ca: str | Path | None = None,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        data_dir: Path | None = None,
    ) -> None:
        self.server = server or default_server()
        self.token = token or discover_token(data_dir)
        ca = tls_ca or os.environ.get("MESHQ_TLS_CA") or None
        self.tls_ca = Path(ca) if ca else None
        self.insecure = insecure
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stubs: dict[type, Any] = {}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def call_options(self, timeout: float | None = None) -> dict[str, Any]:
        """What every call carries: the token's metadata and a deadline (``timeout`` seconds,
        else this connection's default)."""
        return {"timeout": self.timeout if timeout is None else timeout,
                "metadata": self.metadata}

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = self._open()
        return self._channel

    def _open(self) -> grpc.aio.Channel:
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if self.tls_ca is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=self.tls_ca.read_bytes())
            return grpc.aio.secure_channel(self.server, creds, options=options)
        if not (self.insecure or is_loopback(self.server)):
            raise InsecureChannelRefused(
                f"refusing plaintext to {self.server}: pass a CA (--tls-ca / MESHQ_TLS_CA) "
                "or --insecure"
            )
        return grpc.aio.insecure_channel(self.server, options=options)

    def stub(self, stub_class: type[StubT]) -> StubT:
        """The generated stub of ``stub_class`` on this channel (one per class), its unary
        methods raising ``meshq.api.errors`` classes."""
        if stub_class not in self._stubs:
            stub = stub_class(self.channel)  # type: ignore[call-arg]
            for name, method in vars(stub).items():
                if isinstance(method, grpc.aio.UnaryUnaryMultiCallable):
                    setattr(stub, name, _TypedUnary(method))
            self._stubs[stub_class] = stub
        return self._stubs[stub_class]  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stubs.clear()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _TypedUnary:
    """A unary method of a stub whose failures raise the typed ``meshq.api.errors`` classes."""

    __slots__ = ("_method",)

    def __init__(self, method: grpc.aio.UnaryUnaryMultiCallable) -> None:
        self._method = method

    async def __call__(self, request: Any, **kwargs: Any) -> Any:
        try:
            return await self._method(request, **kwargs)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
