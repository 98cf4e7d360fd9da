"""A queue's flow options (rate limit, key concurrency) show in the room's queue list and on
the queue's page."""

from __future__ import annotations

from typing import Any

from meshq.api.client import MeshqClient
from tests.studio.conftest import Browser, sign_in


async def test_rate_limit_and_key_concurrency_are_shown(server: Any, studio: Any,
                                                        browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(unique).queues.open("llm", rate_limit=2.5, key_concurrency=3)
        await admin.room(unique).queues.open("plain")
    await sign_in(browser, studio, server.token)
    await browser.open(f"/rooms/{unique}")
    listed = await browser.wait_text("#queues", "≤ 2.5/s")
    assert "3 per key" in listed
    await browser.open(f"/rooms/{unique}/queues/llm")
    shown = await browser.wait_text("#flow", "2.5 deliveries/s")
    assert "At most 3 leased messages per key" in shown
    await browser.open(f"/rooms/{unique}/queues/plain")
    assert "No rate limit" in await browser.wait_text("#flow", "No rate limit")
