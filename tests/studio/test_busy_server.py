"""A server shared with many rooms and busy pages: the rooms filter finds a room on any
page and keeps to it while the list refreshes and pages; a message for the next page is
not taken by a list refreshing itself in between.

Plain HTTP (urllib) against the session Studio: each step is one request, in order, so the
race a slow browser hits by chance happens here every time.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from meshq.api.client import MeshqClient
from tests.studio.conftest import login_link


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Visitor:
    """One signed-in browser, as plain requests: a cookie jar; redirects not followed."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())
        self.csrf = ""

    def _call(self, path: str, data: dict[str, str] | None = None,
              htmx: bool = False) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(path if "://" in path else self.base + path, data=body)
        if htmx:
            request.add_header("HX-Request", "true")
        try:
            with self.opener.open(request) as response:
                return response.status, response.read().decode(), ""
        except urllib.error.HTTPError as err:  # a 303 not followed lands here
            return err.code, err.read().decode(), err.headers.get("location", "")

    async def get(self, path: str, htmx: bool = False) -> tuple[int, str, str]:
        return await asyncio.to_thread(self._call, path, None, htmx)

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        return await asyncio.to_thread(self._call, path, {"csrf": self.csrf, **data})

    async def sign_in(self, link: str) -> None:
        status, _, location = await self.get(link)
        assert (status, location) == (303, "/"), (status, location)
        status, html, _ = await self.get("/")
        assert status == 200
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found, html
        self.csrf = found.group(1)


def _room_names(html: str) -> list[str]:
    return re.findall(r'<td><a href="/rooms/([^"]+)">', html)


async def test_the_rooms_filter_finds_a_room_among_many_and_keeps_to_it(
        server: Any, studio: Any, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        names = [f"{unique}-{n:02}" for n in range(26)]  # more than a page
        for name in names:
            await client.rooms.create(name)
        await client.rooms.create("zz-" + unique)  # contains it too, sorted last
        visitor = Visitor(studio.url)
        await visitor.sign_in(await login_link(studio, server.token))

        # Any case; only rooms whose name contains the text; paged, the pager keeping it
        _, first, _ = await visitor.get("/?q=" + unique.upper())
        assert _room_names(first) == names[:25]
        assert "page 1 of 2 · 27 in all" in first
        q = urllib.parse.quote(unique.upper(), safe="")
        assert f'href="/?q={q}&amp;page=2"' in first
        assert f'value="{unique.upper()}"' in first  # the box still says what was asked

        # The refresh of page 2 keeps the filter and the page
        _, second, _ = await visitor.get(f"/?q={q}&page=2")
        assert _room_names(second) == [names[25], "zz-" + unique]
        assert f'hx-get="/_rooms?page=2&amp;q={q}"' in second
        _, refreshed, _ = await visitor.get(f"/_rooms?page=2&q={q}", htmx=True)
        assert _room_names(refreshed) == [names[25], "zz-" + unique]

        # Nothing matches: the page says so and leads back to all rooms
        _, none, _ = await visitor.get("/?q=" + unique + "-nothing")
        assert _room_names(none) == [] and "has “" in none and 'href="/"' in none


async def test_a_message_for_the_next_page_is_not_taken_by_a_refreshing_list(
        server: Any, studio: Any, unique: str) -> None:
    async with MeshqClient(server=server.address, token=server.token) as client:
        await client.room(unique).queues.open("jobs")
        visitor = Visitor(studio.url)
        await visitor.sign_in(await login_link(studio, server.token))

        # The queue is closed (POST, then a redirect to its page) ...
        status, _, location = await visitor.post(f"/rooms/{unique}/queues/jobs/close",
                                                 {"back": f"/rooms/{unique}/queues/jobs"})
        assert (status, location) == (303, f"/rooms/{unique}/queues/jobs")

        # ... while the page it was posted from still refreshes its lists
        for partial in ("/_rooms", f"/rooms/{unique}/_queues",
                        f"/rooms/{unique}/queues/jobs/_live", f"/rooms/{unique}/queues/jobs/_dead"):
            status, html, _ = await visitor.get(partial, htmx=True)
            assert status == 200 and "is closed" not in html, partial

        # The page the redirect leads to still shows the message, once
        _, page, _ = await visitor.get(location)
        assert "Queue jobs is closed" in page
        _, again, _ = await visitor.get(location)
        assert "Queue jobs is closed" not in again
