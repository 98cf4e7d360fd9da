"""``ServiceHost``: runs the workers a user's file declares (``meshq.api.services``).

The reference's shape::

    host = ServiceHost()

    @host.path(path="/worker", identity="storage-worker")
    class StorageWorker(Worker): ...

    asyncio.run(host.run())

``host.run()`` connects to the room named by ``$MESHQ_ROOM`` (``meshq service run FILE --room
R`` sets it; ``MESHQ_ROOM=R python main.py`` works too), on ``$MESHQ_SERVER`` with
``$MESHQ_TOKEN`` or the local admin token, builds one instance of each registered class,
starts it, and serves until SIGINT / SIGTERM; then each worker stops gracefully (running jobs
get their stop grace, the rest go back to the queue). A worker that dies of an error it
cannot retry stops the host, and ``run()`` raises it.

meshq workers pull from queues over gRPC, so nothing listens on ``port``: it is accepted for
the reference's signature, and so are ``path`` and ``identity`` (kept as labels).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from meshq.api.rooms import RoomClient

logger = logging.getLogger(__name__)

ROOM_ENV = "MESHQ_ROOM"


class NoRoom(RuntimeError):
    """No room to serve: run `meshq service run FILE --room R`, or set $MESHQ_ROOM."""


@dataclass(frozen=True)
class ServiceEntry:
    """One registered worker class."""

    path: str
    identity: str
    factory: Any


class ServiceHost:
    """A set of worker classes, run together in one room."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port
        self.services: list[ServiceEntry] = []

    def path(self, *, path: str, identity: str, **_: Any) -> Any:
        """Class decorator: register a Worker subclass (constructed with no arguments)."""

        def register(cls: Any) -> Any:
            self.services.append(ServiceEntry(path=path, identity=identity, factory=cls))
            return cls

        return register

    async def run(self, *, room: str | None = None, server: str | None = None,
                  token: str | None = None) -> None:
        """Serve every registered worker in ``room`` until SIGINT / SIGTERM."""
        room_name = room or os.environ.get(ROOM_ENV)
        if not room_name:
            raise NoRoom(NoRoom.__doc__)
        if not self.services:
            raise RuntimeError("no workers registered: decorate a Worker class with @host.path")
        stop = asyncio.Event()
        _on_signals(stop.set)
        async with RoomClient(room=room_name, server=server, token=token) as client:
            await self._serve(client, stop)

    async def _serve(self, client: RoomClient, stop: asyncio.Event) -> None:
        workers = [entry.factory() for entry in self.services]
        for entry, worker in zip(self.services, workers, strict=True):
            if getattr(worker, "labels", None) is not None and entry.identity:
                worker.labels = [*worker.labels, f"identity={entry.identity}"]
        runs = [asyncio.create_task(worker.run(client), name=f"meshq-service-{entry.identity}")
                for entry, worker in zip(self.services, workers, strict=True)]
        stopper = asyncio.create_task(stop.wait(), name="meshq-service-signal")
        logger.info("serving %d worker(s) in room %s", len(workers), client.room_name)
        try:
            await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            logger.info("stopping %d worker(s)", len(workers))
            await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
            stopper.cancel()
            results = await asyncio.gather(*runs, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)
                    and not isinstance(r, asyncio.CancelledError)]
        if failures:
            raise failures[0]


def _on_signals(callback: Any) -> None:
    """Call ``callback`` on SIGINT / SIGTERM (only possible in the main thread)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback)
