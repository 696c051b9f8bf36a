"""Fixtures for the dashboard's browser tests: Debian's chromium, driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from tests.dashboard.server import Dashboard, running_dashboard

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def dashboard(
    temporal_env: WorkflowEnvironment, database_url: str
) -> AsyncIterator[Dashboard]:
    async with running_dashboard(temporal_env.client, database_url) as running:
        yield running


async def open_page(browser: Browser, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport=viewport, locale="en-GB")  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A desktop-sized tab; a script error on any page fails the test."""
    opened, errors = await open_page(browser, DESKTOP)
    yield opened
    await opened.context.close()
    assert errors == [], f"script errors in the page: {errors}"


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    """A tab as wide as a phone."""
    opened, errors = await open_page(browser, PHONE)
    yield opened
    await opened.context.close()
    assert errors == [], f"script errors in the page: {errors}"
