"""Lists refresh by themselves without a full reload; charts follow the server's counters;
long lists page; storage uploads, downloads and deletes; rooms are created and deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshq.api.client import MeshqClient
from tests.studio.conftest import Browser, sign_in


async def _samples_after(studio: Any, room: str, queue: str, count: int) -> None:
    """Wait (on the sampler's own rhythm) until ``count`` more samples of the queue exist."""
    import asyncio

    sampler = studio.state.sampler
    start = len(sampler.series(room, queue))
    async with asyncio.timeout(30):
        while len(sampler.series(room, queue)) < start + count:
            await asyncio.sleep(0.1)  # polling for a condition, not timing


async def test_the_queue_page_refreshes_itself_and_charts_the_counters(
        server: Any, studio: Any, browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        queues = client.room(unique).queues
        await queues.open("jobs")
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/queues/jobs")
        await browser.wait_text("#depth", "0")
        await browser.script("window.notReloaded = true")

        # Waves of sends and acks: the numbers and charts follow without a reload
        for wave in range(1, 4):
            await queues.send_many("jobs", [{"wave": wave, "n": n} for n in range(12)])
            await _samples_after(studio, unique, "jobs", 1)
            for message in await queues.receive_leased("jobs", max_messages=8, wait=False):
                await message.ack()
            await _samples_after(studio, unique, "jobs", 1)
        await _samples_after(studio, unique, "jobs", 2)  # one begun after the last ack
        assert await browser.wait_text("#depth", "12") == "12"
        await browser.wait_text(".chart", "ready 12")
        assert await browser.script("return window.notReloaded") is True

        series = studio.state.sampler.series(unique, "jobs")
        assert series[-1].sent == 36 and series[-1].acked == 24
        assert len(await browser.script(
            "return document.querySelectorAll('.chart polyline')")) == 5
        await browser.shot("queue-charts")


async def test_long_lists_page(server: Any, studio: Any, browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.rooms.create(unique)
        for n in range(30):
            await client.room(unique).storage.write(f"many/file-{n:02}.txt", f"{n}")
    await sign_in(browser, studio, server.token)
    await browser.open(f"/rooms/{unique}/storage?path=many")
    first = await browser.wait_text("#files", "page 1 of 2")
    assert "file-00.txt" in first and "file-29.txt" not in first
    await browser.click_link("Older →")
    second = await browser.wait_text("#files", "page 2 of 2")
    assert "file-29.txt" in second and "file-00.txt" not in second


async def test_upload_download_and_delete_a_file(server: Any, studio: Any, browser: Browser,
                                                 unique: str, tmp_path: Path) -> None:
    local = tmp_path / "notes.json"
    local.write_text('{"rhymes": ["queue", "you"]}')
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.rooms.create(unique)
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/storage")
        await browser.type("#upload-file", str(local), clear=False)
        await browser.click("form[action$='/upload'] button")
        await browser.wait_text(".flash.ok", "Uploaded notes.json (28 bytes)")
        assert await client.room(unique).storage.read("notes.json") == local.read_bytes()

        await browser.click_link("notes.json")
        assert '"rhymes": [' in await browser.wait_text("#file-text", "queue")
        status, text, disposition = await browser.script_async(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0]).then(r => r.text().then(t => done("
            "[r.status, t, r.headers.get('content-disposition')])));",
            f"/rooms/{unique}/storage/download?path=notes.json")
        assert (status, text) == (200, local.read_text())
        assert "attachment" in disposition and "notes.json" in disposition

        await browser.click("a.danger")
        await browser.wait_text("h1", "Delete file notes.json?")
        await browser.click("#confirm")
        await browser.wait_text(".flash.ok", "Deleted notes.json")
        assert not await client.room(unique).storage.exists("notes.json")


async def test_create_and_delete_a_room(server: Any, studio: Any, browser: Browser,
                                        unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await sign_in(browser, studio, server.token)
        await browser.type("#room-name", unique)
        await browser.click("form[action='/rooms'] button")
        await browser.wait_text(".flash.ok", f"Room {unique} created")
        assert browser.path == f"/rooms/{unique}"
        assert unique in [r.name for r in await client.rooms.list()]

        await browser.open(f"/rooms/{unique}/delete")
        await browser.wait_text("h1", f"Delete room {unique}?")
        await browser.click("#confirm")
        await browser.wait_text(".flash.ok", f"Room {unique} deleted")
        assert unique not in [r.name for r in await client.rooms.list()]


async def test_close_and_reopen_a_queue(server: Any, studio: Any, browser: Browser,
                                        unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.room(unique).queues.open("jobs")
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/queues/jobs")
        await browser.click("#close")
        await browser.wait_text("h1", "Close queue jobs?")
        await browser.click("#confirm")
        await browser.wait_text(".flash.ok", "Queue jobs is closed")
        [info] = await client.room(unique).queues.list()
        assert info.closed

        # A send to a closed queue is refused with the server's reason
        await browser.type("#send-body", '{"n": 1}')
        await browser.click("#send")
        await browser.wait_text(".flash.error", "closed")

        await browser.click("#open")
        await browser.click("#confirm")
        await browser.wait_text(".flash.ok", "Queue jobs is open")
        [info] = await client.room(unique).queues.list()
        assert not info.closed and info.depth == 0
