"""A Studio on the session server, and one headless Chromium for the whole session.

The Studio runs on the session loop (as in `meshq up`, beside the gRPC server); Selenium
blocks, so every browser call goes through ``asyncio.to_thread`` (``Browser``) while the
loop keeps serving. Screenshots go to $MESHQ_STUDIO_SCREENSHOTS (docs/studio to refresh the
docs' pictures), else to a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from meshq.cli.main import cli
from meshq.studio import StudioConfig, StudioServer, open_studio

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

WAIT_SECONDS = 15.0  # how long a page may take to show what a test waits for
WIDE = (1280, 900)
PHONE = (390, 844)


@pytest.fixture(scope="session")
async def studio(server: Any) -> AsyncIterator[StudioServer]:
    running = await open_studio(StudioConfig(
        server=server.address, listen="127.0.0.1:0",
        metrics_url=f"http://{server.metrics_address}/metrics", sample_interval_seconds=0.5))
    try:
        yield running
    finally:
        await running.stop()


def _chromium() -> Any:
    """A headless Chromium driven by Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDE[0]},{WIDE[1]}", "--lang=en-US"):
        options.add_argument(arg)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")),
                            options=options)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not shutil.which("chromedriver"):
        if os.environ.get("CI") == "true":
            pytest.fail("chromedriver is missing: .ci/run installs chromium-driver")
        pytest.skip("chromedriver is missing (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium")
    driver = _chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explicit = os.environ.get("MESHQ_STUDIO_SCREENSHOTS")
    folder = Path(explicit) if explicit else tmp_path_factory.mktemp("studio-shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _detached(err: Exception) -> bool:
    """Whether a Selenium error says the element left the page: a stale element, or the
    inspector error ChromeDriver gives instead for a node detached in the middle of a
    command ("Node with given id does not belong to the document")."""
    from selenium.common.exceptions import StaleElementReferenceException

    return (isinstance(err, StaleElementReferenceException)
            or "does not belong to the document" in str(err))


class Browser:
    """The session's Chromium, driven from async tests without blocking the loop."""

    def __init__(self, driver: Any, base: str, shots: Path) -> None:
        self.driver = driver
        self.base = base.rstrip("/")
        self.shots = shots

    async def _do(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def open(self, path_or_url: str) -> None:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        await self._do(self.driver.get, url)

    async def find(self, css: str) -> Any:
        return await self._do(self._wait_for, css)

    def _wait_for(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_SECONDS).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    async def click(self, css: str) -> None:
        """Click what ``css`` finds and wait for the page it leads to (every click in these
        tests follows a link or submits a form)."""
        await self._do(self._navigating, lambda: self._on_fresh(css, lambda e: e.click()))

    def _navigating(self, act: Any) -> None:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.driver.find_element(By.TAG_NAME, "html")
        act()

        def left(_driver: Any) -> bool:  # ``staleness_of``, with ChromeDriver's other wording
            try:
                page.is_enabled()
            except WebDriverException as err:
                if _detached(err):
                    return True
                raise
            return False

        WebDriverWait(self.driver, WAIT_SECONDS).until(left)

    async def click_link(self, text: str) -> None:
        await self._do(self._navigating, lambda: self._click_link(text))

    def _click_link(self, text: str) -> None:
        self._retrying(lambda: self._clickable_link(text), lambda e: e.click())

    def _clickable_link(self, text: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, WAIT_SECONDS).until(
                ec.element_to_be_clickable((By.LINK_TEXT, text)))
        except Exception:
            body = self.driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"no link {text!r}; the page says:\n{body}") from None

    def _on_fresh(self, css: str, act: Any) -> Any:
        return self._retrying(lambda: self._wait_for(css), act)

    def _retrying(self, find: Any, act: Any) -> Any:
        """``act(find())``, finding the element again if htmx replaced it in between (a list
        refreshing itself swaps its elements for new ones: ``_detached``)."""
        from selenium.common.exceptions import WebDriverException

        for _ in range(5):
            try:
                return act(find())
            except WebDriverException as err:
                if not _detached(err):
                    raise
        return act(find())

    async def type(self, css: str, text: str, *, clear: bool = True) -> None:
        def typing(element: Any) -> None:
            if clear:
                element.clear()
            element.send_keys(text)

        await self._do(self._on_fresh, css, typing)

    async def text(self, css: str = "body") -> str:
        return await self._do(self._on_fresh, css, lambda e: e.text)  # type: ignore[no-any-return]

    async def value(self, css: str) -> str:
        return await self._do(  # type: ignore[no-any-return]
            self._on_fresh, css, lambda e: e.get_attribute("value"))

    async def wait_text(self, css: str, wanted: str) -> str:
        """Wait until ``css`` (appearing, or refreshed by htmx) contains ``wanted``."""
        return await self._do(self._wait_text, css, wanted)  # type: ignore[no-any-return]

    def _wait_text(self, css: str, wanted: str) -> str:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def seen(driver: Any) -> str | bool:
            try:
                texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]
            except WebDriverException as err:
                if not _detached(err):
                    raise
                return False
            return next((t for t in texts if wanted in t), False)

        try:
            return str(WebDriverWait(self.driver, WAIT_SECONDS).until(seen))
        except Exception:
            body = self.driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"{wanted!r} never showed in {css!r}; the page says:\n{body}") from None

    async def wait_path(self, path: str, seconds: float = 2 * WAIT_SECONDS) -> None:
        """Wait until the browser is on ``path`` (a refresh may take it there by itself)."""
        from urllib.parse import urlsplit

        from selenium.webdriver.support.ui import WebDriverWait

        await self._do(lambda: WebDriverWait(self.driver, seconds).until(
            lambda d: urlsplit(d.current_url).path == path))

    async def script(self, js: str, *args: Any) -> Any:
        return await self._do(self.driver.execute_script, js, *args)

    async def script_async(self, js: str, *args: Any) -> Any:
        return await self._do(self.driver.execute_async_script, js, *args)

    async def size(self, width: int, height: int) -> None:
        await self._do(self.driver.set_window_size, width, height)

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self._do(self.driver.save_screenshot, str(path))
        return path

    @property
    def path(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
async def browser(chromium: Any, studio: StudioServer, shots: Path) -> AsyncIterator[Browser]:
    b = Browser(chromium, studio.url, shots)
    await b.size(*WIDE)
    yield b


async def login_link(studio: StudioServer, token: str) -> str:
    """What `meshq studio url --token T` prints."""
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["studio", "url", "--token", token, "--studio", studio.url],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def sign_in(browser: Browser, studio: StudioServer, token: str) -> None:
    """Sign the browser in with ``token`` through a `meshq studio url` link."""
    await browser.open(await login_link(studio, token))
    await browser.find("h1")
    assert browser.path == "/", await browser.text()
