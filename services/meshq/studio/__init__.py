"""meshq Studio: a web console that is only a client.

Every page reads and changes the server through the Python SDK with the signed-in person's
own token, so the server's auth interceptor decides what they may see and do, exactly as for
any other client. The Studio keeps no state of its own beyond sign-in sessions (in memory;
a session ends when its token expires) and a few minutes of sampled queue counters for the
charts. ``open_studio`` starts it on an asyncio loop (``meshq up`` runs it beside the gRPC
server); ``meshq serve studio`` runs it alone. Its web stack (Starlette, Jinja2, uvicorn)
is the ``meshq[studio]`` extra, imported only when a Studio starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshq.studio.config import StudioConfig
    from meshq.studio.server import StudioServer, open_studio

__all__ = ["StudioConfig", "StudioServer", "open_studio"]


def __getattr__(name: str) -> Any:
    if name == "StudioConfig":
        from meshq.studio.config import StudioConfig

        return StudioConfig
    if name in ("StudioServer", "open_studio"):
        from meshq.studio import server

        return getattr(server, name)
    raise AttributeError(name)
