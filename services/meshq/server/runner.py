"""Run a stack in the foreground until SIGINT / SIGTERM, then shut down gracefully.

Security and metrics are set up here, around ``start_stack``: the local credentials (API key
and admin token) are created on first run, the auth interceptor guards every RPC, and the
Prometheus endpoint serves the observers' metrics.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from meshq.core.errors import FailedPrecondition
from meshq.metrics.definitions import new_registry
from meshq.metrics.queue import QueueStatsCollector
from meshq.metrics.server import (
    check_metrics_listen,
    metrics_url,
    start_metrics_server,
    stop_metrics_server,
)
from meshq.metrics.wiring import with_observers
from meshq.security.interceptor import AuthInterceptor
from meshq.security.keys import ensure_admin_token, ensure_local_credentials
from meshq.server.app import Stack, StackConfig, start_stack
from meshq.server.datadir import StoreLocks, prepare_data_dir

logger = logging.getLogger(__name__)


async def open_stack(
    config: StackConfig, *, metrics_listen: str = "", metrics_public: bool = False
) -> Stack:
    """Store locks, credentials, interceptor, observers, metrics endpoint, then the stack.

    The data dir's locks come first, so a second server on a data dir in use is told who
    holds it (PID, address) before it tries any port or writes any file.

    The metrics port is bound before the stack starts, so a busy port (or a non-loopback one
    without ``metrics_public``) fails fast; the queue gauges are registered once the engine
    exists. ``stack.metrics_port`` is 0 without metrics.
    """
    if metrics_listen:
        check_metrics_listen(metrics_listen, public=metrics_public)
    locks = prepare_data_dir(config.data_dir, config.services, address=config.listen)
    try:
        return await _open_locked(config, locks, metrics_listen, metrics_public)
    except BaseException:
        locks.release()
        raise


async def _open_locked(config: StackConfig, locks: StoreLocks, metrics_listen: str,
                       metrics_public: bool) -> Stack:
    interceptors = []
    token = ""
    if config.auth:
        api_key, token = _credentials(config)
        interceptors.append(AuthInterceptor(
            api_key, max_streams_per_token=config.settings.security.max_streams_per_token))
    registry = new_registry()
    metrics = (start_metrics_server(metrics_listen, registry, public=metrics_public)
               if metrics_listen else None)
    config = replace(config, settings=with_observers(config.settings, registry))
    try:
        stack = await start_stack(config, interceptors=interceptors, token=token, locks=locks)
    except BaseException:
        if metrics is not None:
            stop_metrics_server(metrics[0])
        raise
    stack.registry = registry
    if config.settings.database.url and stack.context.engine is not None:
        from meshq.postgres.metrics import register_queue_gauges

        register_queue_gauges(registry, stack)
    elif stack.context.engine is not None:
        registry.register(
            QueueStatsCollector(stack.context.engine, loop=asyncio.get_running_loop())
        )
    if metrics is not None:
        server, stack.metrics_port = metrics
        stack.extras.append(lambda: stop_metrics_server(server))
    return stack


def _credentials(config: StackConfig) -> tuple[str, str]:
    """(api_key, admin_token): the shared key of ``settings.security.api_key`` (replicas:
    every one verifies the same tokens) or the data dir's own, created on first run."""
    shared = config.settings.security.api_key or ""
    if not shared:
        return ensure_local_credentials(config.data_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return shared, ensure_admin_token(config.data_dir, shared)


async def run_until_signalled(
    config: StackConfig, *, metrics_listen: str = "", metrics_public: bool = False,
    studio_listen: str = "", studio_required: bool = True,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT or SIGTERM; then NOT_SERVING, drain, stop components.

    With ``studio_listen``, the Studio web console runs beside, as a client of the stack;
    unless ``studio_required``, a Studio that cannot start is announced and skipped."""
    stack = await open_stack(config, metrics_listen=metrics_listen,
                             metrics_public=metrics_public)
    studio = await _open_studio(stack, config, studio_listen, metrics_listen, studio_required,
                                announce)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    announce(f"meshq up: listening on {stack.address}")
    if stack.metrics_port:
        host = metrics_listen.rsplit(":", 1)[0]
        announce(f"meshq up: metrics on http://{host}:{stack.metrics_port}/metrics")
    if studio is not None:
        announce(f"meshq up: studio on {studio.url}")
    stack.record_endpoints(
        **({"metrics": metrics_url(metrics_listen, stack.metrics_port)} if stack.metrics_port else {}),
        **({"studio": studio.url} if studio is not None else {}))
    try:
        await stopping.wait()
    finally:
        announce("meshq up: shutting down")
        if studio is not None:
            await studio.stop()
        await stack.stop()
        announce("meshq up: stopped")


async def _open_studio(stack: Stack, config: StackConfig, studio_listen: str,
                       metrics_listen: str, required: bool,
                       announce: Callable[[str], None]) -> Any:
    """The Studio beside the stack (None without ``studio_listen``, or without its web
    stack installed); a required Studio that cannot start stops the stack too."""
    if not studio_listen:
        return None
    try:
        from meshq.studio.beside import open_beside
    except ImportError as err:
        announce(f"meshq up: no studio ({err.name} is missing: pip install 'meshq[studio]')")
        return None

    try:
        return await open_beside(stack, config, listen=studio_listen,
                                 metrics_listen=metrics_listen)
    except FailedPrecondition as err:
        if required:
            await stack.stop()
            raise
        announce(f"meshq up: no studio: {err.message} (pass --studio-listen HOST:PORT, "
                 "or '' for none)")
        return None
    except BaseException:
        await stack.stop()
        raise
