"""The Studio beside a running stack (`meshq up`): a client of that stack's own address."""

from __future__ import annotations

from meshq.metrics.server import metrics_url
from meshq.server.app import Stack, StackConfig
from meshq.studio.config import StudioConfig
from meshq.studio.server import StudioServer, open_studio


async def open_beside(stack: Stack, config: StackConfig, *, listen: str,
                      metrics_listen: str) -> StudioServer:
    """Serve the Studio on ``listen`` as a client of ``stack`` (TLS when the stack has it)."""
    return await open_studio(StudioConfig(
        server=stack.address, listen=listen, tls_ca=config.tls_cert,
        metrics_url=metrics_url(metrics_listen, stack.metrics_port), insecure=config.insecure))
