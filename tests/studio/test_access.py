"""Who may do what: a token for one room sees only that room and its refusals say why; a
POST without the CSRF token is refused; signing in with a pasted token and signing out;
a login link works once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from meshq.api.client import MeshqClient
from meshq.api.tokens import ApiScope, ParticipantGrant, ParticipantToken
from tests.studio.conftest import Browser, login_link, sign_in


def room_token(server: Any, room: str, ttl: timedelta = timedelta(minutes=10)) -> str:
    """An agent's token for ``room``: send, receive, storage, scheduler; no queue management,
    no rooms."""
    api_key = (server.data_dir / "api_key").read_text().strip()
    return ParticipantToken(name="poem-agent", grants=[
        ParticipantGrant(name="room", scope=room),
        ParticipantGrant(name="role", scope="agent"),
        ParticipantGrant(name="api", scope=ApiScope.agent_default()),
    ]).to_jwt(api_key=api_key, ttl=ttl)


async def test_a_room_token_sees_only_its_room(server: Any, studio: Any, browser: Browser,
                                               unique: str) -> None:
    mine, other = unique, unique + "-other"
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(mine).queues.send("jobs", {"n": 1})
        await admin.room(other).queues.send("jobs", {"n": 1})
        token = room_token(server, mine)

        # Signed in by pasting the token into the login form
        await browser.open("/login")
        if browser.path != "/login":  # still signed in from another test: sign out first
            await browser.click("header form button")
        await browser.type("#token", token)
        await browser.click("form[action='/login'] button")
        listed = await browser.wait_text("#rooms", mine)
        assert other not in listed
        assert "poem-agent" in await browser.text("header")

        # Another room in the URL: the server's refusal, nothing else
        await browser.open(f"/rooms/{other}")
        refused = await browser.wait_text(".flash.error", "Not allowed")
        assert other in refused
        await browser.shot("refused")

        # Draining needs queue management, which this token lacks: refused, with the reason
        await browser.open(f"/rooms/{mine}/queues/jobs")
        await browser.click("#drain")
        await browser.click("#confirm")
        reason = await browser.wait_text(".flash.error", "Not allowed")
        assert "manage" in reason, reason
        assert (await admin.room(mine).queues.peek("jobs"))[0].body == {"n": 1}
        assert browser.path == f"/rooms/{mine}/queues/jobs"

        # Creating a room needs admin: refused too
        await browser.open("/")
        await browser.type("#room-name", unique + "-new")
        await browser.click("form[action='/rooms'] button")
        assert "Not allowed" in await browser.wait_text(".flash.error", "Not allowed")
        assert unique + "-new" not in [r.name for r in await admin.rooms.list()]

        # Signing out ends the session: pages lead to the login again
        await browser.click("header form button")
        await browser.wait_text(".flash", "Signed out")
        await browser.open(f"/rooms/{mine}")
        assert browser.path.startswith("/login")


async def test_a_post_without_the_csrf_token_is_refused(server: Any, studio: Any,
                                                        browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(unique).queues.send("jobs", {"n": 1})
        await sign_in(browser, studio, server.token)
        await browser.open(f"/rooms/{unique}/queues/jobs")
        # The session cookie rides along (same origin), the CSRF token does not
        status, text = await browser.script_async(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {method: 'POST', credentials: 'same-origin',"
            " headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'back=/'})"
            ".then(r => r.text().then(t => done([r.status, t])));",
            f"/rooms/{unique}/queues/jobs/drain")
        assert status == 403
        assert "CSRF" in text
        [info] = [q for q in await admin.room(unique).queues.list() if q.name == "jobs"]
        assert info.depth == 1


async def test_a_login_link_works_once(server: Any, studio: Any, browser: Browser) -> None:
    link = await login_link(studio, server.token)
    assert server.token not in link
    await browser.open(link)
    await browser.wait_text("h1", "Rooms")
    page = await browser.script("return document.documentElement.outerHTML")
    assert server.token not in page and server.token not in browser.driver.current_url
    cookies = await browser.script("return document.cookie")
    assert "meshq_studio" not in cookies  # HttpOnly: page scripts cannot read the session
    await browser.click("header form button")  # sign out
    await browser.wait_text(".flash", "Signed out")
    await browser.open(link)
    assert "used up or expired" in await browser.wait_text(".flash.error", "used up")
    await browser.shot("login")


async def test_a_session_ends_when_its_token_expires(server: Any, studio: Any, browser: Browser,
                                                     unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(unique).queues.open("jobs")
    await sign_in(browser, studio, room_token(server, unique, ttl=timedelta(seconds=8)))
    await browser.open(f"/rooms/{unique}")
    # The queue list keeps refreshing; the first refresh after the token's expiry is sent
    # to the login page (as the page itself is, on a machine slow enough to open it later)
    await browser.wait_path("/login")
    assert "session ended" in await browser.wait_text(".flash", "session ended")
    await browser.open(f"/rooms/{unique}")
    assert browser.path.startswith("/login")


async def test_a_storage_only_token_still_reaches_the_rooms_storage(
        server: Any, studio: Any, browser: Browser, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as admin:
        await admin.room(unique).queues.open("jobs")
        await admin.room(unique).storage.write("poem.txt", "a reader's poem")
    api_key = (server.data_dir / "api_key").read_text().strip()
    reader = ParticipantToken(name="reader", grants=[
        ParticipantGrant(name="room", scope=unique),
        ParticipantGrant(name="api", scope=ApiScope(storage_read=("",))),
    ]).to_jwt(api_key=api_key)
    await sign_in(browser, studio, reader)
    await browser.open(f"/rooms/{unique}")
    assert "Not allowed" in await browser.wait_text("#queues", "Not allowed")
    await browser.click_link("Storage")
    await browser.click_link("poem.txt")
    assert await browser.text("#file-text") == "a reader's poem"
    await browser.open(f"/rooms/{unique}/tasks")
    assert "Not allowed" in await browser.wait_text("main .flash.error", "scheduler")
