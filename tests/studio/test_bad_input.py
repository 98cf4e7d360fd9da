"""Bad input gets a clear message on the page, changes nothing, and never a trace; the
pages fit a 390 px wide phone."""

from __future__ import annotations

from typing import Any

from meshq.api.client import MeshqClient
from tests.studio.conftest import PHONE, WIDE, Browser, sign_in


async def test_invalid_json_is_not_sent_and_the_draft_stays(server: Any, studio: Any,
                                                            browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(unique).queues.open("jobs")
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/queues/jobs")
        await browser.type("#send-body", '{"task": "poem",}')
        await browser.click("#send")
        refused = await browser.wait_text(".flash.error", "not valid JSON")
        assert "line 1 column" in refused and "Nothing was sent" in refused
        assert await browser.value("#send-body") == '{"task": "poem",}'
        assert await admin.room(unique).queues.peek("jobs") == []

        await browser.type("#send-body", '{"task": "poem"}')
        await browser.type("#send-headers", "source: studio")
        await browser.click("#send")
        await browser.wait_text(".flash.ok", "Sent message")
        [sent] = await admin.room(unique).queues.peek("jobs")
        assert (sent.body, sent.headers["source"]) == ({"task": "poem"}, "studio")
        await browser.wait_text("#peek", '{"task":"poem"}')


async def test_unknown_room_path_escape_and_unknown_page(server: Any, studio: Any,
                                                         browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.rooms.create(unique)
    await sign_in(browser, studio, server.token)
    cases = {
        f"/rooms/{unique}-missing": "does not exist",
        f"/rooms/{unique}/queues/nope": "Not found",
        f"/rooms/{unique}/storage?path=../../etc/passwd": "would leave the room",
        f"/rooms/{unique}/storage?path=missing.txt": "Not found",
        f"/rooms/{unique}/tasks/no-such-task": "Not found",
        "/no/such/page": "no such page",
    }
    for path, wanted in cases.items():
        await browser.open(path)
        text = await browser.wait_text(".flash.error", wanted)
        assert "Traceback" not in await browser.text() and "File \"" not in text, path


async def test_pages_fit_a_phone(server: Any, studio: Any, browser: Browser,
                                 unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(unique).queues.send("jobs", {"task": "a rather long poem about queues"})
        await admin.room(unique).storage.write("poem.txt", "short\npoem")
        task = await admin.scheduler.add(room=unique, queue="jobs", schedule="0 9 * * 1-5",
                                         timezone="America/New_York", name="weekday-poem")
    await sign_in(browser, studio, server.token)
    await browser.size(*PHONE)
    try:
        for path, name in ((f"/rooms/{unique}/queues/jobs", "phone-queue"),
                           (f"/rooms/{unique}", "phone-room"),
                           (f"/rooms/{unique}/storage?path=poem.txt", "phone-file"),
                           (f"/rooms/{unique}/tasks", "phone-tasks"),
                           (f"/rooms/{unique}/tasks/{task.id}", "phone-task")):
            await browser.open(path)
            await browser.find("h1")
            # Nothing is wider than the screen: wide tables scroll inside their own box
            width = await browser.script("return document.documentElement.scrollWidth")
            inner = await browser.script("return window.innerWidth")
            assert width <= inner, (path, width, inner)
            await browser.shot(name)
        await browser.open(f"/rooms/{unique}/queues/jobs")
        assert (await browser.wait_text("#depth", "1")) == "1"
    finally:
        await browser.size(*WIDE)
