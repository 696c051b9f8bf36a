"""Screenshots of the dashboard for docs/, taken against a running stack with sample data.

    .venv/bin/python -m tests.dashboard.screenshots            # writes docs/dashboard-*.png
    .venv/bin/python -m tests.dashboard.screenshots --phone /tmp/phone   # and 390 px shots

Not part of the suite: run it by hand when the pages change.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from core.contracts import SEARCH_ATTRIBUTES
from tests.conftest import venv_binary
from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from tests.dashboard.server import Dashboard, running_dashboard
from tests.events import example
from tests.receiver import Answer, Receiver

DOCS = Path(__file__).resolve().parents[2] / "docs"


async def sample_data(dashboard: Dashboard, receiver: Receiver) -> tuple[str, str]:
    """An account with a few endpoints and events; returns its key and an event to show."""
    key = await dashboard.account("Acme School")
    auth = {"Authorization": f"Bearer {key}"}
    stack = dashboard.stack
    receiver.script(
        "/teachstack/recordings",
        Answer(status=503, body=b'{"error": "warming up"}'),
        Answer(status=500, body=b'{"error": "database is locked"}'),
    )
    receiver.default("/teachstack/recordings", Answer(status=204, body=b""))
    receiver.default("/teachstack/lms", Answer(status=500, body=b"Internal Server Error"))
    await stack.endpoint(
        auth,
        receiver.url("/teachstack/classes"),
        event_types=["room.created", "room.closed", "peer.joined", "peer.left"],
        description="Class calendar and attendance sync",
    )
    await stack.endpoint(
        auth,
        receiver.url("/teachstack/recordings"),
        event_types=["recording.processed", "recording.failed"],
        description="Recording archive",
        retry_policy="quick-exponential",
    )
    lms = await stack.endpoint(
        auth, receiver.url("/teachstack/lms"), description="Legacy LMS bridge", retry_policy="once"
    )
    events: list[dict[str, Any]] = []
    for event_type in ("room.created", "peer.joined", "room.closed", "recording.processed"):
        events.append(await stack.emit(auth, event_type, example(event_type)))
    for event in events:
        await stack.settled(event["id"])
    response = await stack.api.patch(
        f"/v1/endpoints/{lms['id']}", json={"disabled": True}, headers=auth
    )
    assert response.status_code == 200, response.text
    return key, events[-1]["id"]


async def sign_in(page: Page, dashboard: Dashboard, key: str) -> None:
    await page.goto(f"{dashboard.url}/signin")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Webhooks", level=1).wait_for()


async def shoot(
    page: Page, dashboard: Dashboard, key: str, event_id: str, shots: dict[str, Path]
) -> None:
    """Screenshots of the pages named in ``shots`` (webhooks, deliveries, delivery)."""
    await sign_in(page, dashboard, key)
    await page.locator("li.endpoint").first.wait_for()
    await page.locator(".secret-panel summary").first.click()
    if "webhooks" in shots:
        await page.screenshot(path=shots["webhooks"], full_page=True)
    if "deliveries" in shots:
        await page.goto(f"{dashboard.url}/deliveries")
        await page.locator("#events-body tr").first.wait_for()
        await page.screenshot(path=shots["deliveries"], full_page=True)
    if "delivery" in shots:
        await page.goto(f"{dashboard.url}/deliveries/{event_id}")
        await page.locator("#attempts-body tr").first.wait_for()
        await page.screenshot(path=shots["delivery"], full_page=True)


async def main(phone_dir: Path | None) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
    )
    receiver = Receiver()
    receiver.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'webhooks.db'}"
            async with (
                env,
                running_dashboard(env.client, database_url) as dashboard,
                async_playwright() as playwright,
            ):
                key, event_id = await sample_data(dashboard, receiver)
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                desktop = await browser.new_page(viewport=DESKTOP, locale="en-GB")
                DOCS.mkdir(exist_ok=True)
                shots = {"webhooks": DOCS / "dashboard-webhooks.png"}
                shots["delivery"] = DOCS / "dashboard-delivery.png"
                if phone_dir is not None:
                    phone_dir.mkdir(parents=True, exist_ok=True)
                    shots["deliveries"] = phone_dir / "dashboard-deliveries.png"
                await shoot(desktop, dashboard, key, event_id, shots)
                if phone_dir is not None:
                    phone = await browser.new_page(viewport=PHONE, locale="en-GB")
                    pages = ("webhooks", "deliveries", "delivery")
                    phone_shots = {name: phone_dir / f"dashboard-{name}-390.png" for name in pages}
                    await shoot(phone, dashboard, key, event_id, phone_shots)
                await browser.close()
    finally:
        receiver.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phone", type=Path, help="also write 390 px screenshots here")
    asyncio.run(main(parser.parse_args().phone))
