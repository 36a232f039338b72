"""The console in a real chromium (Debian's, driven by Playwright) for the call-center tests
against a live `hotline serve` (tests/callcenter/conftest.py: ``live_server`` and the
``browser`` fixture)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from playwright.async_api import Browser, Page, async_playwright, expect

from tests.callcenter.util import PASSWORD

if TYPE_CHECKING:
    from tests.callcenter.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
UI_TIMEOUT_MS = 60_000


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless chromium, closed on exit."""
    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def login(page: Page, server: LiveServer, username: str) -> None:
    """Sign in to the console as ``username`` (the suite's password); waits for the console."""
    await page.goto(f"{server.base}/console")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#whoami")).to_be_visible()
