"""Notices a dead execution substrate (a local Ray whose daemons died), starts it again and
re-creates every pool on it.

Without this a pool whose Ray died reports "restarting" for ever and consumes nothing. Every
``interval`` it asks the backend whether it is alive (a local check, no RPC); when not, it
logs one warning, counts the restart (``PoolObserver.ray_restarted``), restarts the backend and
has each supervisor start its wanted replicas afresh. The jobs the dead replicas held come
back by lease expiry or when their streams closed. A restart that fails is logged with Ray's
reason and tried again on the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from meshq.core.tasks import cancel_and_wait
from meshq.pools.backend import PoolBackend
from meshq.pools.observer import PoolObserver
from meshq.pools.supervisor import PoolSupervisor

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0  # seconds between liveness checks


class BackendWatchdog:
    """``start()`` / ``stop()``; checks only once the backend has started."""

    def __init__(self, *, backend: Callable[[], PoolBackend | None],
                 supervisors: Callable[[], Sequence[PoolSupervisor]],
                 observer: PoolObserver | None = None,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self._backend = backend
        self._supervisors = supervisors
        self._observer = observer or PoolObserver()
        self._interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="meshq-pool-watchdog")

    async def stop(self) -> None:
        self._stop.set()
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
            if self._stop.is_set():
                return
            try:
                await self.check()
            except Exception:
                logger.exception("pool watchdog pass failed")

    async def check(self) -> bool:
        """One pass; True when it restarted the backend."""
        backend = self._backend()
        if backend is None or not backend.started or await backend.alive():
            return False
        pools = list(self._supervisors())
        logger.warning("the %s backend of the pools died (its local daemons exited); "
                       "restarting it and re-creating %d pool(s)", backend.name, len(pools))
        async with contextlib.AsyncExitStack() as held:  # no supervision pass meanwhile
            for supervisor in pools:
                await held.enter_async_context(supervisor.paused())
            try:
                await backend.restart()
            except Exception as err:
                logger.error("restarting the %s backend failed (trying again in %.0fs): %s",
                             backend.name, self._interval, err)
                return False
            try:
                self._observer.backend_restarted(backend.name)
            except Exception:
                logger.exception("pool observer failed")
            for supervisor in pools:
                try:
                    await supervisor.recreate()
                except Exception:
                    logger.exception("pool %s: re-creating its replicas failed", supervisor.name)
        logger.warning("the %s backend is back; %d pool(s) re-created", backend.name, len(pools))
        return True
