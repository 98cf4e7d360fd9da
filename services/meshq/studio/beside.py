"""The Studio beside a running stack (`meshq up`): a client of that stack's own address."""

from __future__ import annotations

from meshq.server.app import Stack, StackConfig
from meshq.studio.config import StudioConfig
from meshq.studio.server import StudioServer, open_studio


def metrics_url(metrics_listen: str, metrics_port: int) -> str:
    """The stack's /metrics URL as a local client reaches it ("" without metrics)."""
    if not metrics_listen or not metrics_port:
        return ""
    host = metrics_listen.rsplit(":", 1)[0].strip("[]")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{metrics_port}/metrics" if ":" in host \
        else f"http://{host}:{metrics_port}/metrics"


async def open_beside(stack: Stack, config: StackConfig, *, listen: str,
                      metrics_listen: str) -> StudioServer:
    """Serve the Studio on ``listen`` as a client of ``stack`` (TLS when the stack has it)."""
    return await open_studio(StudioConfig(
        server=stack.address, listen=listen, tls_ca=config.tls_cert,
        metrics_url=metrics_url(metrics_listen, stack.metrics_port), insecure=config.insecure))
