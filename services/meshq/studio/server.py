"""Run the Studio on an asyncio loop: beside the gRPC server in `meshq up`, or alone.

``open_studio(config)`` binds the port first (so a busy port fails at once, and port 0
picks a free one), then serves with uvicorn on the running loop without touching signal
handlers (the caller owns those). ``StudioServer.stop()`` ends the sessions' clients.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

import uvicorn

from meshq.api.client import MeshqClient
from meshq.api.connection import is_loopback
from meshq.core.errors import FailedPrecondition
from meshq.studio.app import build_app
from meshq.studio.config import StudioConfig
from meshq.studio.sampler import Sampler
from meshq.studio.sessions import LoginCodes, SessionStore
from meshq.studio.web import StudioState

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # expired sessions are dropped at least this often


@dataclass
class StudioServer:
    """A running Studio."""

    url: str
    """http://host:port/ a local browser opens."""
    port: int
    state: StudioState
    _server: uvicorn.Server
    _socket: socket.socket
    _tasks: tuple[asyncio.Task[None], ...]

    async def stop(self) -> None:
        """Stop serving, then sampling; close every session's connection. Safe twice."""
        self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() == "studio-sweeper":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server.started:
            await self._server.shutdown(sockets=[self._socket])
            self._server.started = False
        await self.state.sampler.stop()
        await self.state.sessions.close()
        self._socket.close()


def _bind(listen: str) -> socket.socket:
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise FailedPrecondition(f"--studio-listen {listen!r} is not HOST:PORT") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise FailedPrecondition(f"the Studio cannot listen on {listen}: {err.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def build_state(config: StudioConfig) -> StudioState:
    def client(token: str) -> MeshqClient:
        return MeshqClient(server=config.server, token=token, tls_ca=config.tls_ca)

    sessions = SessionStore(client, max_seconds=config.session_max_seconds)
    sampler = Sampler(config.metrics_url, interval=config.sample_interval_seconds,
                      window=config.sample_window_seconds, active=lambda: len(sessions) > 0)
    return StudioState(sessions=sessions, codes=LoginCodes(ttl=config.code_ttl_seconds),
                       sampler=sampler)


async def open_studio(config: StudioConfig) -> StudioServer:
    """Bind ``config.listen`` and serve the Studio until ``stop()``."""
    if not config.insecure and not is_loopback(config.listen):
        raise FailedPrecondition(
            f"refusing plain HTTP for the Studio on {config.listen}: listen on loopback and "
            "put TLS in front of it, or pass --insecure")
    sock = _bind(config.listen)
    state = build_state(config)
    uconfig = uvicorn.Config(build_app(state), lifespan="off", access_log=False,
                             log_level="warning", server_header=False)
    uconfig.load()
    server = uvicorn.Server(uconfig)
    server.lifespan = uconfig.lifespan_class(uconfig)
    await server.startup(sockets=[sock])
    state.sampler.start()
    loop = asyncio.get_running_loop()
    tasks = (loop.create_task(server.main_loop(), name="studio-http"),
             loop.create_task(_sweep(state), name="studio-sweeper"))
    studio = StudioServer(url=_url(sock), port=sock.getsockname()[1], state=state,
                          _server=server, _socket=sock, _tasks=tasks)
    logger.info("studio on %s (server %s)", studio.url, config.server)
    return studio


async def _sweep(state: StudioState) -> None:
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        for session_id in await state.sessions.sweep():
            state.forget(session_id)
