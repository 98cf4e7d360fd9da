"""How servicers are added to the ``grpc.aio`` server: as generic handlers only.

The generated ``add_<Service>Servicer_to_server`` functions add a service twice: as a generic
handler, and as *registered methods*. grpc.aio's accept loop keeps one pending request task
per registered method and runs ``asyncio.wait`` over all of them for every call it accepts
(grpc 1.85, ``AioServer._server_main_loop``), so each RPC pays for every method the server
has: 22 for `meshq serve queue`, 41 for `meshq up`. A generic handler costs one
dict lookup per call. Measured under callgrind, 2,000 unbatched Sends from 64 callers to
`meshq serve queue`: 689,000 instructions per Send with registered methods, 569,000 without
(a bare echo server: 282,000 per call). Reflection, rare and outside the hot path, keeps its
registered method (its helper only accepts a real server).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import grpc


class ServiceRegistry(Protocol):
    """What a component's ``register`` may call: the server's two ways of adding handlers."""

    def add_generic_rpc_handlers(
            self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None: ...

    def add_registered_method_handlers(
            self, service_name: str,
            method_handlers: Mapping[str, grpc.RpcMethodHandler]) -> None: ...


class GenericHandlersOnly:
    """A ``ServiceRegistry`` over ``server`` that adds generic handlers and drops the
    registered-method copy the generated code adds right after them (module docstring)."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(
            self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(
            self, service_name: str,
            method_handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        """Nothing: the same handlers were added as a generic handler."""
