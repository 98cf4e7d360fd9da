"""The reference's flow in a real browser: sign in with `meshq studio url`, a room, a
queue's depth, a dead letter and its redrive; storage and poem.txt; a scheduled task
toggled, run now and edited with a live preview; a pool scaled."""

from __future__ import annotations

from typing import Any

from meshq.api.client import MeshqClient
from tests.studio.conftest import Browser, sign_in

POEM = "The queue was long, the night was deep;\nthe workers sang the jobs to sleep."


async def _dead_letter(client: MeshqClient, room: str, queue: str, body: Any) -> str:
    """A message that failed its only delivery, with a reason."""
    queues = client.room(room).queues
    await queues.open(queue, max_deliveries=1)
    await queues.send(queue, body)
    [leased] = await queues.receive_leased(queue, wait=False)
    await leased.nack(error="the model refused: no rhymes left")
    return leased.message_id


async def test_room_queue_dead_letter_redrive(server: Any, studio: Any, browser: Browser,
                                              unique: str) -> None:
    # Given a room whose queue holds one ready message and one dead letter
    async with MeshqClient(server=server.address, token=server.token) as client:
        dead_id = await _dead_letter(client, unique, "jobs", {"task": "poem", "n": 1})
        await client.room(unique).queues.send("jobs", {"task": "poem", "n": 2})

        # When the admin signs in with the one-time link and opens the room
        # (the server may hold many rooms, more than a page: the filter finds this one)
        await sign_in(browser, studio, server.token)
        await browser.type("#room-filter", unique)
        await browser.click("#room-filter-go")
        assert browser.path == f"/?q={unique}"
        await browser.wait_text("#rooms", unique)
        await browser.shot("rooms")
        await browser.click_link(unique)
        await browser.wait_text("#queues", "jobs")
        await browser.shot("room")

        # Then the queue shows its depth, its dead letter and the reason it died
        await browser.click_link("jobs")
        assert (await browser.wait_text("#depth", "1")) == "1"
        await browser.wait_text("#dead-letters", dead_id[:12])
        await browser.wait_text("#dead-letters", "no rhymes left")
        await browser.wait_text(".chart", "ready")  # the charts' samples are arriving
        await browser.find(".chart polyline")
        await browser.shot("queue")
        await browser.click(f'#dead-letters a[href$="{dead_id}?dead=1"]')
        body = await browser.wait_text("#body", '"task": "poem"')
        assert '\n  "n": 1' in body  # pretty-printed
        assert "no rhymes left" in await browser.text("#last-error")
        await browser.shot("message")

        # When the dead letter is redriven
        await browser.click("form[action$='/redrive'] button")
        await browser.wait_text(".flash.ok", f"Redrove dead letter {dead_id}")

        # Then the queue holds both messages again and no dead letter
        await browser.wait_text("#depth", "2")
        await browser.wait_text("#dead", "No dead letters")
        [info] = [q for q in await client.room(unique).queues.list() if q.name == "jobs"]
        assert (info.depth, info.dead_lettered) == (2, 0)


async def test_redrive_all_and_delete_a_dead_letter(server: Any, studio: Any, browser: Browser,
                                                    unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        doomed = await _dead_letter(client, unique, "jobs", {"n": "doomed"})
        kept = await _dead_letter(client, unique, "jobs", {"n": "kept"})
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/queues/jobs")
        await browser.wait_text("#dead-letters", kept[:12])

        # Delete one (after confirming), then redrive the rest
        await browser.click(f'tr[data-id="{doomed}"] a.danger')
        await browser.wait_text("h1", f"Delete dead letter {doomed}?")
        await browser.shot("confirm")
        await browser.click("#confirm")
        await browser.wait_text(".flash.ok", f"Deleted dead letter {doomed}")
        await browser.click("#redrive-all")
        await browser.click("#confirm")
        await browser.wait_text(".flash.ok", "Redrove 1 dead letters")
        peeked = await client.room(unique).queues.peek("jobs")
        assert [m.message_id for m in peeked] == [kept]


async def test_storage_shows_the_poem(server: Any, studio: Any, browser: Browser,
                                      unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.rooms.create(unique)
        await client.room(unique).storage.write("poem.txt", POEM)
        await client.room(unique).storage.write("notes/plan.json", '{"steps":["write","rhyme"]}')
    await sign_in(browser, studio, server.token)
    await browser.open(f"/rooms/{unique}")
    await browser.click_link("Storage")
    await browser.wait_text("#files", "poem.txt")
    await browser.shot("storage")
    await browser.click_link("poem.txt")
    assert await browser.wait_text("#file-text", "the workers sang") == POEM
    await browser.shot("file")
    await browser.open(f"/rooms/{unique}/storage?path=notes")
    await browser.click_link("plan.json")
    assert '"steps": [' in await browser.wait_text("#file-text", "rhyme")


# Asia/Tokyo keeps +09:00 all year: the expected instants hold in every season.
async def test_task_toggle_run_now_and_edit_with_preview(server: Any, studio: Any,
                                                         browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.room(unique).queues.open("poems")
        task = await client.scheduler.add(room=unique, queue="poems", schedule="0 9 * * *",
                                          timezone="Asia/Tokyo", payload={"task": "poem"},
                                          name="morning-poem")
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}")
        await browser.click_link("Scheduled tasks")
        listed = await browser.wait_text("#tasks", "morning-poem")
        assert "09:00:00 +09:00" in listed and "00:00:00 UTC" in listed  # local and UTC
        await browser.shot("tasks")
        await browser.click_link("morning-poem")

        # Toggle: paused, on the page and on the server
        await browser.click("form[action$='/toggle'] button")
        await browser.wait_text(".flash.ok", "is now paused")
        assert "paused" in await browser.text("#task-state")
        assert "none while paused" in await browser.text("#next-fire")
        assert not (await client.scheduler.get(task.id)).spec.active

        # Run now: enqueued, and the ledger says so
        await browser.click("form[action$='/run'] button")
        await browser.wait_text(".flash.ok", "enqueued")
        await browser.wait_text("#runs", "manual")
        assert len(await client.room(unique).queues.peek("poems")) == 1

        # Edit: the preview follows the typing, from the server's Preview
        await browser.type("#edit-schedule", "30 7 * * 1")
        await browser.wait_text("#preview", "07:30:00 +09:00")
        await browser.shot("task")
        await browser.type("#edit-schedule", "61 * * * *")
        await browser.wait_text("#preview .flash.error", "schedule")
        await browser.click("#save")
        refused = await browser.wait_text(".flash.error", "Invalid input")
        assert "schedule" in refused
        assert await browser.value("#edit-schedule") == "61 * * * *"  # the draft is kept
        assert (await client.scheduler.get(task.id)).spec.schedule == "0 9 * * *"
        await browser.type("#edit-schedule", "30 7 * * 1")
        await browser.click("#save")
        await browser.wait_text(".flash.ok", "Task saved")
        assert (await client.scheduler.get(task.id)).spec.schedule == "30 7 * * 1"

        # Resumed: the next fire is back, on the new schedule
        await browser.click("form[action$='/toggle'] button")
        await browser.wait_text(".flash.ok", "is now active")
        await browser.wait_text("#next-fire", "22:30:00 UTC")  # Sunday, UTC


async def test_pool_replicas_and_scale(server: Any, studio: Any, browser: Browser,
                                       unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.room(unique).queues.open("jobs")
        await client.pools.start(room=unique, queue="jobs", worker_class="studio_workers:EchoWorker",
                                 replicas=1, name=unique)
        try:
            await sign_in(browser, studio, server.token)
            await browser.open(f"/rooms/{unique}")
            await browser.click_link("Pools")
            await browser.wait_text(f'[data-pool="{unique}"]', "1/1 replicas")
            await browser.type(f"#replicas-{unique}", "2")
            await browser.click(f"form[action$='/pools/{unique}/scale'] button")
            await browser.wait_text(".flash.ok", "2 replicas wanted")
            await browser.wait_text(f'[data-pool="{unique}"]', "2/2 replicas")
            await browser.shot("pools")
        finally:
            await client.pools.stop(unique, grace=1.0)


async def test_add_a_task_with_the_form(server: Any, studio: Any, browser: Browser,
                                        unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.room(unique).queues.open("reports")
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/tasks")
        await browser.type("#add-schedule", "30 17 * * *")
        await browser.type("#add-timezone", "Asia/Tokyo")
        await browser.wait_text("#preview", "17:30:00 +09:00")
        await browser.type("#add-queue", "reports")
        await browser.type("#add-name", "daily-summary")
        await browser.type("#add-payload", '{"prompt": "Generate the daily support summary."')
        await browser.click("#add")
        assert "payload is not valid JSON" in await browser.wait_text("main > .flash.error",
                                                                      "payload")
        assert await browser.value("#add-name") == "daily-summary"  # the draft is kept
        assert await client.scheduler.list(room=unique) == []

        await browser.type("#add-payload", '{"prompt": "Generate the daily support summary."}')
        await browser.click("#add")
        await browser.wait_text("main > .flash.ok", "Task daily-summary added")
        [task] = await client.scheduler.list(room=unique)
        assert (task.spec.schedule, task.spec.timezone, task.spec.queue) == (
            "30 17 * * *", "Asia/Tokyo", "reports")
        assert "08:30:00 UTC" in await browser.text("main")
