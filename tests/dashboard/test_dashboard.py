"""The dashboard in a real browser, against the API over HTTP and a worker on real Temporal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from core import store
from core.contracts import resend_workflow_id
from core.delivery_writer import DeliveriesWrite, DeliveryWriter
from tests.conftest import waiting_to_retry
from tests.dashboard.server import Dashboard
from tests.events import example
from tests.receiver import Answer, Receiver
from tests.rows import new_account, new_endpoint, new_event
from workflows.event import EventWorkflow

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def sign_in(page: Page, dashboard: Dashboard, key: str) -> None:
    await page.goto(f"{dashboard.url}/signin")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()


def endpoint_card(page: Page, endpoint_id: str) -> Locator:
    return page.locator(f'li.endpoint[data-endpoint-id="{endpoint_id}"]')


async def endpoints(dashboard: Dashboard, key: str) -> list[dict[str, Any]]:
    response = await dashboard.stack.api.get("/v1/endpoints", headers=bearer(key))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def horizontal_overflow(page: Page) -> int:
    """How far the page scrolls sideways, in CSS pixels."""
    width: int = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


# ---------------------------------------------------------------- signing in


async def test_signing_in_with_a_good_key_shows_the_webhooks_page(
    page: Page, dashboard: Dashboard
) -> None:
    key = await dashboard.account()

    await page.goto(f"{dashboard.url}/")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
    await sign_in(page, dashboard, key)

    await expect(page).to_have_url(f"{dashboard.url}/")
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
    await expect(nav.get_by_role("link", name="Deliveries")).to_be_visible()
    await expect(page.get_by_role("main")).to_be_visible()
    await expect(
        page.get_by_text("No endpoints yet — add one to start receiving events.")
    ).to_be_visible()
    assert await page.evaluate("Object.values(sessionStorage)") == [key]


async def test_a_wrong_key_is_refused_with_a_clear_message(
    page: Page, dashboard: Dashboard
) -> None:
    await dashboard.account()

    await page.goto(f"{dashboard.url}/signin")
    await page.get_by_label("API key").fill("tsk_not_a_real_key")
    await page.get_by_role("button", name="Sign in").click()

    await expect(page.get_by_role("alert")).to_have_text("That API key was not accepted.")
    await expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    await expect(page).to_have_url(f"{dashboard.url}/signin")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_signing_out_forgets_the_key(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard, await dashboard.account())

    await page.get_by_role("button", name="Sign out").click()

    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
    await page.goto(f"{dashboard.url}/deliveries")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fdeliveries$"))


# ---------------------------------------------------------------- endpoints


async def test_an_endpoint_added_here_receives_an_event_whose_delivery_and_attempt_are_shown(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    await sign_in(page, dashboard, key)

    await page.get_by_role("button", name="Add endpoint").click()
    form = page.locator("#add-panel")
    await form.get_by_label("Endpoint URL").fill(receiver.url("/hook"))
    checkbox = form.get_by_role("checkbox", name=re.compile(r"^room\.created "))
    await expect(checkbox).to_have_accessible_name(re.compile(r"A teacher started a class"))
    await checkbox.check()
    await expect(form.get_by_label("Retry policy")).to_have_value("")  # the default, "fast"
    await expect(form.get_by_label("Retry policy").locator("option:checked")).to_have_text(
        "fast (default)"
    )
    await form.get_by_label("Retry policy").select_option(label="once")
    await form.get_by_label("Description (optional)").fill("Class calendar sync")
    await form.get_by_role("button", name="Add endpoint").click()
    # The page lists the endpoint once the API has answered the form's request.
    await expect(page.locator("li.endpoint")).to_have_count(1)

    (created,) = await endpoints(dashboard, key)
    assert created["url"] == receiver.url("/hook")
    assert created["event_types"] == ["room.created"]
    assert created["retry_policy"] == "once"
    assert created["description"] == "Class calendar sync"
    card = endpoint_card(page, created["id"])
    await expect(card.get_by_role("heading", name=receiver.url("/hook"))).to_be_visible()
    await expect(card).to_contain_text("Enabled")
    await expect(card).to_contain_text("room.created")
    await expect(page.get_by_text("No endpoints yet")).to_be_hidden()

    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Deliveries").click()
    row = page.locator(f'tr[data-event-id="{event["id"]}"]')
    await expect(row).to_contain_text("room.created")
    await expect(row).to_contain_text(receiver.url("/hook"))
    await expect(row.locator(".badge")).to_have_text("Delivered", timeout=20_000)

    await row.get_by_role("link").click()
    await expect(page).to_have_url(f"{dashboard.url}/deliveries/{event['id']}")
    await expect(page.get_by_role("heading", name="room.created", level=1)).to_be_visible()
    attempts = page.locator("#attempts-body tr")
    await expect(attempts).to_have_count(1)
    await expect(attempts.locator(".attempt-status")).to_have_text("200")
    await expect(attempts).to_contain_text("#1")
    await expect(attempts).to_contain_text(receiver.url("/hook"))
    await expect(page.locator("#payload")).to_contain_text('"room_name": "Algebra 101"')
    assert len(receiver.received("/hook")) == 1


async def test_an_invalid_url_is_explained_next_to_its_field(
    page: Page, dashboard: Dashboard
) -> None:
    key = await dashboard.account()
    refused = await dashboard.stack.api.post(
        "/v1/endpoints", json={"url": "not a url"}, headers=bearer(key)
    )
    assert refused.status_code == 422
    message = refused.json()["detail"][0]["msg"]
    await sign_in(page, dashboard, key)

    await page.get_by_role("button", name="Add endpoint").click()
    form = page.locator("#add-panel")
    url = form.get_by_label("Endpoint URL")
    await url.fill("not a url")
    await form.get_by_role("button", name="Add endpoint").click()

    await expect(url).to_have_attribute("aria-invalid", "true")
    await expect(url).to_have_accessible_description(message)
    await expect(form.locator('[data-error-for="url"]')).to_have_text(message)
    await expect(url).to_be_focused()
    assert await endpoints(dashboard, key) == []


async def test_the_add_form_keeps_what_was_typed_until_cancelled_and_esc_cancels(
    page: Page, dashboard: Dashboard
) -> None:
    key = await dashboard.account()
    await sign_in(page, dashboard, key)
    header_button = page.locator("#add-endpoint")
    form = page.locator("#add-panel")
    url = form.get_by_label("Endpoint URL")

    await header_button.click()
    await url.fill("https://example.com/half-typed")
    await header_button.click()

    await expect(url).to_have_value("https://example.com/half-typed")
    await expect(url).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(form).to_be_hidden()
    await expect(header_button).to_be_focused()
    assert await endpoints(dashboard, key) == []


async def test_deleting_an_endpoint_asks_first_cancel_keeps_it_confirm_removes_it(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    kept = await dashboard.stack.endpoint(bearer(key), receiver.url("/kept"))
    doomed = await dashboard.stack.endpoint(bearer(key), receiver.url("/doomed"))
    await sign_in(page, dashboard, key)
    card = endpoint_card(page, doomed["id"])
    dialog = page.get_by_role("dialog", name="Delete this endpoint?")

    await card.get_by_role("button", name="Delete").click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(receiver.url("/doomed"))
    await dialog.get_by_role("button", name="Cancel").click()

    await expect(dialog).to_be_hidden()
    await expect(card).to_be_visible()
    assert {e["id"] for e in await endpoints(dashboard, key)} == {kept["id"], doomed["id"]}

    await card.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Delete endpoint").click()

    await expect(card).to_have_count(0)
    await expect(endpoint_card(page, kept["id"])).to_be_visible()
    assert [e["id"] for e in await endpoints(dashboard, key)] == [kept["id"]]


async def test_an_endpoint_can_be_edited_disabled_and_enabled(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    created = await dashboard.stack.endpoint(
        bearer(key), receiver.url("/edit"), event_types=["peer.joined"]
    )
    await sign_in(page, dashboard, key)
    card = endpoint_card(page, created["id"])

    await card.get_by_role("button", name="Edit").click()
    await card.get_by_label("Endpoint URL").fill(receiver.url("/edited"))
    await card.get_by_role("checkbox", name=re.compile(r"^peer\.joined ")).uncheck()
    await card.get_by_role("checkbox", name=re.compile(r"^peer\.left ")).check()
    await card.get_by_label("Description (optional)").fill("Attendance")
    await card.get_by_role("button", name="Save changes").click()

    await expect(card.get_by_role("heading", name=receiver.url("/edited"))).to_be_visible()
    await expect(card).to_contain_text("Attendance")
    await expect(card.locator(".chip")).to_have_text(["peer.left"])
    (changed,) = await endpoints(dashboard, key)
    assert changed["url"] == receiver.url("/edited")
    assert changed["event_types"] == ["peer.left"]
    assert changed["description"] == "Attendance"
    assert changed["retry_policy"] is None

    await expect(page.locator("#page-notice")).to_contain_text("Saved")
    await card.get_by_role("button", name="Disable").click()
    await expect(card.locator(".badge")).to_have_text("Disabled")
    await expect(page.locator("#page-notice")).to_be_hidden()
    await expect(card.locator(".disabled-reason")).to_contain_text("disabled by the account")
    assert (await endpoints(dashboard, key))[0]["disabled"] is True

    await card.get_by_role("button", name="Send test event").click()
    await expect(card.locator(".test-result")).to_contain_text("enable it to test it")

    await card.get_by_role("button", name="Enable").click()
    await expect(card.locator(".badge")).to_have_text("Enabled")
    await expect(card.locator(".test-result")).to_be_empty()
    assert (await endpoints(dashboard, key))[0]["disabled"] is False


async def test_the_secret_is_hidden_until_revealed_then_fills_the_snippets_and_can_be_rotated(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    created = await dashboard.stack.endpoint(bearer(key), receiver.url("/secret"))
    await sign_in(page, dashboard, key)
    card = endpoint_card(page, created["id"])

    await card.get_by_text("Signing secret and signature verification").click()
    snippets = card.locator(".snippet pre")
    await expect(card.locator(".secret-value")).not_to_contain_text(created["secret"])
    await expect(snippets.nth(0)).to_contain_text('Webhook("whsec_...")')
    await expect(snippets.nth(0)).to_contain_text("from standardwebhooks.webhooks import Webhook")
    await expect(snippets.nth(1)).to_contain_text('import { Webhook } from "standardwebhooks";')
    await expect(snippets.nth(1)).to_contain_text('new Webhook("whsec_...")')

    await card.get_by_role("button", name="Reveal").click()
    await expect(card.locator(".secret-value")).to_have_text(created["secret"])
    await expect(snippets.nth(0)).to_contain_text(f'Webhook("{created["secret"]}")')
    await expect(snippets.nth(1)).to_contain_text(f'new Webhook("{created["secret"]}")')

    await card.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("dialog", name="Rotate the signing secret?")
    await dialog.get_by_role("button", name="Rotate secret").click()
    await expect(card.locator(".secret-value")).not_to_have_text(created["secret"])
    secret = (
        await dashboard.stack.api.get(f"/v1/endpoints/{created['id']}/secret", headers=bearer(key))
    ).json()["secret"]
    assert secret != created["secret"]
    await expect(card.locator(".secret-value")).to_have_text(secret)
    await expect(snippets.nth(0)).to_contain_text(secret)

    # The card, drawn again after an edit left unsaved, still tells of the previous secret.
    await card.get_by_role("button", name="Edit").click()
    await card.get_by_role("button", name="Cancel").click()
    await expect(
        card.get_by_text("The previous secret also signs deliveries until")
    ).to_be_visible()


async def test_api_data_is_shown_as_text_never_as_markup(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    markup = '<img src="x" onerror="window.injected = true">'
    await dashboard.stack.endpoint(bearer(key), receiver.url("/escape"), description=markup)
    event = await dashboard.stack.emit(
        bearer(key), "room.created", example("room.created", room_name=markup)
    )
    await sign_in(page, dashboard, key)

    await expect(page.get_by_text(markup)).to_be_visible()
    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")
    await expect(page.locator("#payload")).to_contain_text(markup.replace('"', '\\"'))
    assert await page.locator("main img").count() == 0
    assert await page.evaluate("window.injected === undefined")


# ---------------------------------------------------------------- deliveries


async def test_deliveries_are_filtered_and_paged(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    endpoint = await dashboard.stack.endpoint(
        bearer(key), receiver.url("/filtered"), event_types=["room.closed"]
    )
    closed = await dashboard.stack.emit(bearer(key), "room.closed", example("room.closed"))
    for _ in range(26):
        await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(closed["id"])
    await sign_in(page, dashboard, key)
    await page.goto(f"{dashboard.url}/deliveries")
    rows = page.locator("#events-body tr")

    await expect(rows).to_have_count(25)
    await page.get_by_role("button", name="Load more").click()
    await expect(rows).to_have_count(27)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    await expect(rows.nth(25).get_by_role("link")).to_be_focused()

    await page.get_by_label("Event type").select_option("room.closed")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(closed["id"])
    await expect(page).to_have_url(re.compile(r"type=room\.closed"))

    await page.get_by_label("Event type").select_option("")
    await page.get_by_label("Endpoint").select_option(label=receiver.url("/filtered"))
    await expect(rows).to_have_count(1)
    await expect(page).to_have_url(re.compile(f"endpoint_id={endpoint['id']}"))

    await page.get_by_label("Delivery status").select_option("failed")
    await expect(page.get_by_text("No events match these filters.")).to_be_visible()
    await expect(rows).to_have_count(0)

    await page.get_by_role("button", name="Clear filters").click()
    await expect(rows).to_have_count(25)

    # Events about deliveries, which automations send, can be filtered like the others.
    await page.goto(f"{dashboard.url}/deliveries?type=webhook.message.attempt.exhausted")
    await expect(page.get_by_label("Event type")).to_have_value("webhook.message.attempt.exhausted")
    await expect(page.get_by_text("No events match these filters.")).to_be_visible()


async def test_an_event_waiting_for_a_worker_is_not_shown_as_going_nowhere(
    page: Page, dashboard: Dashboard
) -> None:
    account_id, key = await new_account(dashboard.stack.sessions)
    # Accepted, with no worker to take its workflow: stored as an emit stores it.
    waiting = await new_event(
        dashboard.stack.sessions, account_id, kind="room.closed", data=example("room.closed")
    )
    nowhere = await dashboard.stack.emit(bearer(key), "peer.left", example("peer.left"))
    await dashboard.stack.settled(nowhere["id"])
    await sign_in(page, dashboard, key)

    await page.goto(f"{dashboard.url}/deliveries")
    await expect(page.locator(f'tr[data-event-id="{waiting.id}"]')).to_contain_text(
        "Waiting for a worker"
    )
    await expect(page.locator(f'tr[data-event-id="{nowhere["id"]}"]')).to_contain_text(
        "No endpoint subscribed"
    )
    await page.get_by_label("Delivery status").select_option(label="Waiting for a worker")
    await expect(page.locator("#events-body tr")).to_have_count(1)
    await expect(page.locator("#events-body tr")).to_contain_text(waiting.id)
    await expect(page).to_have_url(re.compile(r"status=waiting"))

    await page.goto(f"{dashboard.url}/deliveries/{waiting.id}")
    await expect(page.get_by_text("waiting for a worker to find the endpoints")).to_be_visible()
    await expect(page.get_by_text("No endpoint was subscribed")).to_be_hidden()
    # A worker's lookup records the delivery, as it would: the page shows it by itself.
    endpoint = await new_endpoint(dashboard.stack.sessions, account_id)
    writer_engine = store.create_sync_engine(dashboard.stack.settings.database_url)
    try:
        await DeliveryWriter(writer_engine).add_deliveries(
            DeliveriesWrite(
                event_id=waiting.id,
                account_id=account_id,
                policies={endpoint.id: "fast"},
                skipped={},
            )
        )
    finally:
        writer_engine.dispose()
    await expect(page.locator(".delivery .badge")).to_have_text("Pending")
    await expect(page.get_by_text("waiting for a worker to find the endpoints")).to_be_hidden()
    await page.goto(f"{dashboard.url}/deliveries/{nowhere['id']}")
    await expect(page.get_by_text("No endpoint was subscribed")).to_be_visible()
    await expect(page.get_by_text("waiting for a worker to find the endpoints")).to_be_hidden()


async def test_events_that_come_while_the_page_is_open_appear_by_themselves(
    page: Page, dashboard: Dashboard
) -> None:
    key = await dashboard.account()
    first = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(first["id"])
    await sign_in(page, dashboard, key)
    await page.goto(f"{dashboard.url}/deliveries")
    rows = page.locator("#events-body tr")
    await expect(rows).to_have_count(1)

    later = await dashboard.stack.emit(bearer(key), "room.closed", example("room.closed"))

    # Nothing is moving on the page: it looks again within ten seconds.
    await expect(rows.first).to_contain_text(later["id"], timeout=15_000)
    await expect(rows).to_have_count(2)


# ---------------------------------------------------------------- accessibility

# Problems a page has: form controls without a <label>, buttons without a name, no landmarks.
AUDIT = """() => {
  const problems = [];
  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (control.labels.length === 0) problems.push(`no label: ${control.outerHTML}`);
  }
  for (const button of document.querySelectorAll("button, a")) {
    if (!button.textContent.trim() && !button.getAttribute("aria-label")) {
      problems.push(`no name: ${button.outerHTML}`);
    }
  }
  for (const landmark of ["nav", "main"]) {
    if (!document.querySelector(landmark)) problems.push(`no <${landmark}>`);
  }
  return problems;
}"""


async def test_every_control_is_labelled_and_the_pages_have_landmarks(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    created = await dashboard.stack.endpoint(bearer(key), receiver.url("/a11y"))
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await sign_in(page, dashboard, key)
    card = endpoint_card(page, created["id"])

    await page.get_by_role("button", name="Add endpoint").click()
    await card.get_by_text("Signing secret and signature verification").click()
    await card.get_by_role("button", name="Edit").click()
    await expect(card.get_by_role("button", name="Save changes")).to_be_visible()
    assert await page.evaluate(AUDIT) == []

    await page.goto(f"{dashboard.url}/deliveries")
    await expect(page.locator("#events-body tr")).to_have_count(1)
    assert await page.evaluate(AUDIT) == []

    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")
    await expect(page.locator("#delivery-list li")).to_have_count(1)
    assert await page.evaluate(AUDIT) == []

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    assert await page.evaluate(AUDIT) == ["no <nav>"]  # nothing to navigate to yet


# ---------------------------------------------------------------- phone width


async def test_at_phone_width_nothing_scrolls_sideways_and_the_main_controls_are_visible(
    phone: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    account_id, key = await new_account(dashboard.stack.sessions)
    long_path = "/hooks/" + "very-long-segment-" * 8
    endpoint = await dashboard.stack.endpoint(
        bearer(key),
        receiver.url(long_path),
        event_types=["room.created", "recording.processed", "whiteboard.new_file_saved"],
        description="An unbroken word must wrap too: " + "x" * 50,
    )
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(event["id"])
    # The longest event type, in a row of the Deliveries page.
    await new_event(dashboard.stack.sessions, account_id, kind="webhook.message.attempt.exhausted")
    await sign_in(phone, dashboard, key)
    nav = phone.get_by_role("navigation", name="Main")

    card = endpoint_card(phone, endpoint["id"])
    await expect(card).to_be_visible()
    assert await horizontal_overflow(phone) == 0
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    for control in (
        nav.get_by_role("link", name="Webhooks"),
        nav.get_by_role("link", name="Deliveries"),
        phone.get_by_role("button", name="Sign out"),
        phone.get_by_role("button", name="Add endpoint"),
        card.get_by_role("button", name="Edit"),
        card.get_by_role("button", name="Send test event"),
        card.get_by_role("button", name="Delete"),
    ):
        await expect(control).to_be_visible()
        await expect(control).to_be_in_viewport()

    await phone.get_by_role("button", name="Add endpoint").click()
    await card.get_by_text("Signing secret and signature verification").click()
    await expect(phone.locator("#add-panel").get_by_label("Endpoint URL")).to_be_visible()
    assert await horizontal_overflow(phone) == 0

    await nav.get_by_role("link", name="Deliveries").click()
    row = phone.locator(f'tr[data-event-id="{event["id"]}"]')
    await expect(row.locator(".badge")).to_have_text("Delivered")
    await expect(phone.get_by_label("Event type")).to_be_visible()
    assert await horizontal_overflow(phone) == 0

    await row.get_by_role("link").click()
    await expect(phone.locator("#attempts-body tr")).to_have_count(1)
    await expect(phone.get_by_role("button", name="Resend")).to_be_visible()
    assert await horizontal_overflow(phone) == 0


# ---------------------------------------------------------------- newer API parts


async def test_the_success_rate_of_the_last_24_hours_is_shown_per_endpoint(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    busy = await dashboard.stack.endpoint(bearer(key), receiver.url("/busy"))
    idle = await dashboard.stack.endpoint(
        bearer(key), receiver.url("/idle"), event_types=["recording.failed"]
    )
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(event["id"])
    listed = {e["id"]: e for e in await endpoints(dashboard, key)}
    assert listed[busy["id"]]["success_rate_24h"] == 1.0
    assert listed[busy["id"]]["attempts_24h"] == 1
    assert listed[idle["id"]]["success_rate_24h"] is None

    await sign_in(page, dashboard, key)

    rate = "dt:text('Success, last 24 h') + dd"
    await expect(endpoint_card(page, busy["id"]).locator(rate)).to_have_text("100% of 1 attempt")
    await expect(endpoint_card(page, idle["id"]).locator(rate)).to_have_text("—")


async def test_a_test_event_is_sent_and_its_result_shown(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    created = await dashboard.stack.endpoint(bearer(key), receiver.url("/test"))
    await sign_in(page, dashboard, key)
    card = endpoint_card(page, created["id"])

    await card.get_by_role("button", name="Send test event").click()

    result = card.locator(".test-result")
    await expect(result).to_contain_text("Delivered", timeout=20_000)
    await expect(result).to_contain_text("HTTP 200")
    await expect(result.get_by_role("link", name="View event")).to_be_visible()
    rate = card.locator("dt:text('Success, last 24 h') + dd")
    await expect(rate).to_have_text("100% of 1 attempt")
    await expect(card.get_by_role("button", name="Send test event")).to_be_focused()
    assert len(receiver.received("/test")) == 1


async def test_an_event_can_be_resent_to_an_endpoint(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    await dashboard.stack.endpoint(bearer(key), receiver.url("/again"))
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(event["id"])
    await sign_in(page, dashboard, key)
    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")
    await expect(page.locator("#attempts-body tr")).to_have_count(1)

    await page.get_by_role("button", name="Resend").click()

    await expect(page.locator(".delivery")).to_contain_text("Resend started")
    await receiver.wait_for("/again", 2)
    await expect(page.locator("#attempts-body tr")).to_have_count(2, timeout=20_000)
    assert receiver.received("/again")[1].headers["webhook-id"] == event["id"]


async def test_a_deleted_endpoint_is_shown_by_the_url_its_attempts_went_to_on_both_pages(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    endpoint = await dashboard.stack.endpoint(bearer(key), receiver.url("/gone"))
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(event["id"])
    deleted = await dashboard.stack.api.delete(
        f"/v1/endpoints/{endpoint['id']}", headers=bearer(key)
    )
    assert deleted.status_code == 204
    await sign_in(page, dashboard, key)

    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")

    await expect(page.locator(".delivery-endpoint")).to_have_text(
        f"{receiver.url('/gone')} (deleted)"
    )
    await expect(page.locator("#attempts-body tr")).to_contain_text(receiver.url("/gone"))
    await page.goto(f"{dashboard.url}/deliveries")
    await expect(page.locator(".delivery-endpoint")).to_have_text(
        f"{receiver.url('/gone')} (deleted)"
    )


async def test_a_long_response_is_shown_whole_on_request(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    tail = "the end of a long answer"
    receiver.default("/verbose", Answer(500, body=("<p>error</p>" * 40 + tail).encode()))
    await dashboard.stack.endpoint(bearer(key), receiver.url("/verbose"), retry_policy="once")
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(event["id"])
    await sign_in(page, dashboard, key)
    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")
    response = page.locator("#attempts-body .response-body")
    await expect(response.get_by_text(tail)).to_be_hidden()

    await response.locator("summary").focus()
    await page.keyboard.press("Enter")

    await expect(response.get_by_text(tail)).to_be_visible()


async def test_a_delivery_skipped_for_a_disabled_endpoint_offers_no_resend(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    endpoint = await dashboard.stack.endpoint(bearer(key), receiver.url("/paused"))
    paused = await dashboard.stack.api.patch(
        f"/v1/endpoints/{endpoint['id']}", json={"disabled": True}, headers=bearer(key)
    )
    assert paused.status_code == 200, paused.text
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await dashboard.stack.settled(event["id"])
    await sign_in(page, dashboard, key)

    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")

    delivery = page.locator(".delivery")
    await expect(delivery.locator(".badge")).to_have_text("Skipped (endpoint disabled)")
    await expect(delivery).to_contain_text("Endpoint disabled")
    await expect(delivery.get_by_role("button", name="Resend")).to_have_count(0)
    await expect(delivery.get_by_text("Retry policy")).to_have_count(0)


async def test_a_resend_while_one_waits_to_retry_sends_now_in_its_place(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    receiver.default("/down", Answer(500))
    endpoint = await dashboard.stack.endpoint(
        bearer(key), receiver.url("/down"), retry_policy="patient"
    )
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await receiver.wait_for("/down", 1)
    await sign_in(page, dashboard, key)
    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")
    resend = page.get_by_role("button", name="Resend")

    await resend.click()
    await expect(page.locator(".delivery")).to_contain_text("Resend started")
    # The resend's first attempt fails; its next is a minute on.
    await waiting_to_retry(
        dashboard.stack.client.get_workflow_handle_for(
            EventWorkflow.run, resend_workflow_id(event["id"], endpoint["id"])
        )
    )
    await resend.click()

    await expect(page.locator(".delivery")).to_contain_text(
        "The resend that was waiting to retry was stopped."
    )
    await receiver.wait_for("/down", 3)


async def test_a_resend_while_one_has_an_attempt_under_way_sends_nothing_more(
    page: Page, dashboard: Dashboard, receiver: Receiver
) -> None:
    key = await dashboard.account()
    await dashboard.stack.endpoint(bearer(key), receiver.url("/slow"))
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    await receiver.wait_for("/slow", 1)
    receiver.default("/slow", Answer(200, delay=1.5))
    await sign_in(page, dashboard, key)
    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")
    resend = page.get_by_role("button", name="Resend")

    await resend.click()
    await expect(page.locator(".delivery")).to_contain_text("Resend started")
    await receiver.wait_for("/slow", 2)  # the resend's attempt, answered in 1.5 s
    await resend.click()

    await expect(page.locator(".delivery")).to_contain_text("has an attempt under way")
    assert len(receiver.received("/slow")) == 2


async def test_the_event_page_links_to_its_workflow_in_the_temporal_ui(
    page: Page, dashboard: Dashboard
) -> None:
    key = await dashboard.account()
    event = await dashboard.stack.emit(bearer(key), "room.created", example("room.created"))
    assert event.get("workflow_url"), "the API does not return workflow_url"
    await sign_in(page, dashboard, key)

    await page.goto(f"{dashboard.url}/deliveries/{event['id']}")

    link = page.get_by_role("link", name="View workflow in Temporal")
    await expect(link).to_have_attribute("href", event["workflow_url"])
