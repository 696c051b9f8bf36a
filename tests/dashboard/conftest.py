"""Fixtures for the dashboard's browser tests: Debian's chromium, driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, async_playwright
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
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


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


async def open_page(browser: Browser, viewport: ViewportSize) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport=viewport, locale="en-GB")
    page = await context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: _csp_violation(message, errors))
    return page, errors


def _csp_violation(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        errors.append(message.text)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A desktop-sized tab; a script error or a blocked resource on any page fails the test."""
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
