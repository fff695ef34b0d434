"""Debian's chromium for the dashboard tests, driven by Playwright (never a downloaded browser), and
the pages they open."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from contextlib import asynccontextmanager

import aiohttp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALL = ROOT / "tools" / "install-chromium.sh"
ARTIFACTS = ROOT / "test-artifacts"
# Headless in a closed network: without the networking flags chromium floods it with retries.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium() -> str:
    """The chromium binary; installs Debian's package when it is missing. In CI a failed install
    fails the test; elsewhere (say, without root) the test is skipped with the reason."""
    found = shutil.which("chromium")
    if found:
        return found
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True)
    found = shutil.which("chromium")
    if found:
        return found
    message = f"chromium is missing and {INSTALL.name} failed: {result.stderr[-2000:]}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


playwright_api = pytest.importorskip("playwright.async_api")
# expect() waits 5 s by default, apart from the page's timeout: on a loaded 2-core machine a page
# refreshing every 2 s can need more. A wait, not a bound: a passing check returns at once.
playwright_api.expect.set_options(timeout=15_000)
DESKTOP = {"width": 1400, "height": 1000}
NARROW = {"width": 420, "height": 900}


@pytest.fixture(scope="session")
async def browser():
    """One headless chromium for the session; each test gets a fresh context (its own profile)."""
    executable = chromium()
    async with playwright_api.async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def open_page(browser, viewport: dict = DESKTOP):
    """A page in a fresh context that records every request and every page or console error."""
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    page.set_default_timeout(15000)
    page.requests, page.errors = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and not _expected_404(m) and page.errors.append(m.text))
    try:
        yield page
    finally:
        await context.close()


def _expected_404(message) -> bool:
    """The page probes endpoints a broker may not have yet (answered 404) and hides their panels:
    chromium logs each such answer as a console error, which is not the page's fault."""
    return "404" in message.text and "Failed to load resource" in message.text


@pytest.fixture
async def page(browser, broker_server):
    async with open_page(browser) as page:
        yield page


async def api_has(base: str, path: str) -> bool:
    """Whether the broker answers GET `path` (the newer dashboard endpoints may not be there)."""
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        return response.status != 404


async def skip_unless(base: str, path: str, who: str) -> None:
    if not await api_has(base, path):
        pytest.skip(f"GET {path} answers 404 on this broker ({who} not merged yet)")
