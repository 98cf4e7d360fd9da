"""`meshq up` serves the Studio beside gRPC and metrics; `meshq studio url` signs in."""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from meshq.cli.main import cli

UP_SECONDS = 60.0  # how long `meshq up` may take to print its addresses


async def _line(stream: asyncio.StreamReader, starts: str) -> str:
    while True:
        line = (await stream.readline()).decode()
        assert line, f"meshq up ended before printing {starts!r}"
        if line.startswith(starts):
            return line.strip()


async def test_meshq_up_serves_the_studio(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MESHQ_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshq.cli.main", "up", "--data-dir", str(tmp_path),
        "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
        "--studio-listen", "127.0.0.1:0", "--pool-backend", "asyncio",
        stdout=asyncio.subprocess.PIPE, env=env)
    assert process.stdout is not None
    try:
        await asyncio.wait_for(_line(process.stdout, "meshq up: listening on"), UP_SECONDS)
        await asyncio.wait_for(_line(process.stdout, "meshq up: metrics on"), UP_SECONDS)
        line = await asyncio.wait_for(_line(process.stdout, "meshq up: studio on"), UP_SECONDS)
        studio = line.rsplit(" ", 1)[1]

        # `meshq studio url` with the data dir's admin token prints a one-time link
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["studio", "url", "--studio", studio, "--data-dir",
                                      str(tmp_path)], catch_exceptions=False, env={"MESHQ_TOKEN": None})
        assert result.exit_code == 0, result.output
        link = result.stdout.strip()
        token = (tmp_path / "admin.token").read_text().strip()
        assert link.startswith(studio.rstrip("/") + "/login/link?code=") and token not in link

        def open_link() -> tuple[int, str, http.cookiejar.Cookie, str]:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            with opener.open(link) as page:
                cookie = next(c for c in jar if c.name == "meshq_studio")
                return (page.status, page.read().decode(), cookie,
                        page.headers["content-security-policy"])

        # The link becomes an HttpOnly, SameSite session cookie, then the rooms page
        status, html, cookie, policy = await asyncio.to_thread(open_link)
        assert status == 200 and "<h1>Rooms</h1>" in html and token not in html
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "lax"
        assert cookie.value != token
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), UP_SECONDS)


async def test_meshq_serve_studio_alone(server: Any) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshq.cli.main", "serve", "studio", "--server", server.address,
        "--listen", "127.0.0.1:0", stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(_line(process.stdout, "meshq studio: on"), UP_SECONDS)
        studio = line.split()[3]
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["studio", "url", "--studio", studio, "--token",
                                      server.token], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        html = await asyncio.to_thread(_open_link, result.stdout.strip())
        assert "<h1>Rooms</h1>" in html

        # A token the server refuses gets no code
        refused = await asyncio.to_thread(
            CliRunner().invoke, cli, ["studio", "url", "--studio", studio, "--token", "bogus"])
        assert refused.exit_code == 5 and "refused the token" in refused.stderr
        garbled = await asyncio.to_thread(
            CliRunner().invoke, cli, ["studio", "url", "--studio", studio, "--token", "tök en"])
        assert garbled.exit_code == 5 and "printable ASCII" in garbled.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), UP_SECONDS)


def _open_link(link: str) -> str:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(link) as page:
        return page.read().decode()  # type: ignore[no-any-return]


def test_studio_url_says_when_the_studio_is_unreachable() -> None:
    result = CliRunner().invoke(cli, ["studio", "url", "--token", "t", "--studio",
                                      "http://127.0.0.1:9"])
    assert result.exit_code == 3
    assert "cannot reach the Studio" in result.stderr


def test_serve_studio_has_help() -> None:
    result = CliRunner().invoke(cli, ["serve", "studio", "--help"])
    assert result.exit_code == 0 and "--server" in result.output and "--metrics-url" in result.output
