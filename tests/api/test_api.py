"""The HTTP API: keys, validation, tenancy, idempotent and durable emits, listings."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client

from api.main import create_app
from core import store
from core.catalog import EVENT_TYPE_NAMES
from core.intake import EventIntake
from core.models import ApiKey, Endpoint
from devstack import free_port
from tests.conftest import ADMIN_TOKEN, Stack, make_settings
from tests.events import example
from tests.receiver import Answer, Receiver


def locations(response: httpx.Response) -> list[tuple[Any, ...]]:
    assert response.status_code == 422, response.text
    return [tuple(error["loc"]) for error in response.json()["detail"]]


# ---------------------------------------------------------------- keys


async def test_account_creation_needs_the_admin_token(stack: Stack) -> None:
    missing = await stack.api.post("/v1/accounts", json={"name": "x"})
    wrong = await stack.api.post(
        "/v1/accounts", json={"name": "x"}, headers={"Authorization": "Bearer nope"}
    )
    api_key = await stack.account()
    as_account = await stack.api.post("/v1/accounts", json={"name": "x"}, headers=api_key)

    assert [r.status_code for r in (missing, wrong, as_account)] == [401, 401, 401]
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_account_is_created_with_an_api_key_shown_once(stack: Stack) -> None:
    response = await stack.api.post(
        "/v1/accounts", json={"name": "Acme"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Acme" and body["id"].startswith("acct_")
    assert body["api_key"].startswith("tsk_") and len(body["api_key"]) > 40


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/endpoints"),
        ("POST", "/v1/endpoints"),
        ("GET", "/v1/events"),
        ("POST", "/v1/events"),
        ("GET", "/v1/event-types"),
        ("GET", "/v1/retry-policies"),
    ],
)
async def test_missing_or_wrong_api_key_gets_401(stack: Stack, method: str, path: str) -> None:
    missing = await stack.api.request(method, path, json={})
    wrong = await stack.api.request(
        method, path, json={}, headers={"Authorization": "Bearer tsk_wrong"}
    )
    admin = await stack.api.request(
        method, path, json={}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert (missing.status_code, wrong.status_code, admin.status_code) == (401, 401, 401)


async def test_api_keys_are_stored_hashed(stack: Stack) -> None:
    auth = await stack.account()
    api_key = auth["Authorization"].removeprefix("Bearer ")

    async with stack.sessions() as session:
        stored = (await session.exec(select(ApiKey))).all()
    assert stored and all(api_key not in key.key_hash for key in stored)


# ---------------------------------------------------------------- catalog


async def test_event_types_are_listed_with_descriptions_and_schemas(stack: Stack) -> None:
    auth = await stack.account()
    listed = (await stack.api.get("/v1/event-types", headers=auth)).json()["data"]

    assert [item["name"] for item in listed] == list(EVENT_TYPE_NAMES)
    assert len(listed) == 7
    for item in listed:
        assert item["description"]
        assert item["schema"]["type"] == "object" and item["schema"]["required"]


async def test_retry_policies_are_listed_with_the_default(stack: Stack) -> None:
    auth = await stack.account()
    listed = (await stack.api.get("/v1/retry-policies", headers=auth)).json()

    assert {item["name"]: item["default"] for item in listed} == {
        "fast": True,
        "once": False,
        "quick-exponential": False,
        "steady": False,
        "patient": False,
    }


# ---------------------------------------------------------------- endpoints


async def test_endpoint_is_created_with_a_standard_webhooks_secret(stack: Stack) -> None:
    auth = await stack.account()
    created = await stack.endpoint(
        auth,
        "https://hooks.example.com/teachstack",
        event_types=["room.created", "room.closed"],
        description="LMS sync",
        retry_policy="once",
    )

    assert created["id"].startswith("ep_")
    assert created["secret"].startswith("whsec_")

    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    assert created["event_types"] == ["room.created", "room.closed"]
    assert (created["description"], created["retry_policy"], created["disabled"]) == (
        "LMS sync",
        "once",
        False,
    )
    shown = (await stack.api.get(f"/v1/endpoints/{created['id']}", headers=auth)).json()
    assert "secret" not in shown
    secret = (await stack.api.get(f"/v1/endpoints/{created['id']}/secret", headers=auth)).json()
    assert secret == {"secret": created["secret"]}


async def test_endpoint_with_unknown_event_type_bad_url_or_unknown_policy_gets_422(
    stack: Stack,
) -> None:
    auth = await stack.account()

    unknown_type = await stack.api.post(
        "/v1/endpoints",
        json={"url": "https://example.com/h", "event_types": ["room.created", "room.exploded"]},
        headers=auth,
    )
    bad_url = await stack.api.post("/v1/endpoints", json={"url": "not a url"}, headers=auth)
    ftp_url = await stack.api.post(
        "/v1/endpoints", json={"url": "ftp://example.com/x"}, headers=auth
    )
    unknown_policy = await stack.api.post(
        "/v1/endpoints",
        json={"url": "https://example.com/h", "retry_policy": "forever"},
        headers=auth,
    )
    missing_url = await stack.api.post("/v1/endpoints", json={}, headers=auth)

    assert locations(unknown_type) == [("body", "event_types", 1)]
    assert "room.exploded" in unknown_type.json()["detail"][0]["msg"]
    assert locations(bad_url) == [("body", "url")]
    assert locations(ftp_url) == [("body", "url")]
    assert locations(unknown_policy) == [("body", "retry_policy")]
    assert "fast" in unknown_policy.json()["detail"][0]["msg"]
    assert locations(missing_url) == [("body", "url")]
    assert (await stack.api.get("/v1/endpoints", headers=auth)).json()["count"] == 0


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("", "Enter the URL that should receive the events"),
        (
            "example.com/hook",
            "Start the URL with https:// (or http://), e.g. https://example.com/hook",
        ),
        ("ftp://example.com/x", "Use an https:// or http:// URL, not ftp://"),
        ("https://exa mple.com/x", "A URL has no spaces: remove them (in a path, write %20)"),
        (
            "https://example.com/" + "a" * 2030,
            "A URL has at most 2048 characters; this one has 2050",
        ),
    ],
)
async def test_a_mistyped_endpoint_url_is_explained_in_plain_words(
    stack: Stack, url: str, said: str
) -> None:
    auth = await stack.account()
    created = await stack.api.post("/v1/endpoints", json={"url": url}, headers=auth)
    endpoint = await stack.endpoint(auth, "https://example.com/ok")
    changed = await stack.api.patch(
        f"/v1/endpoints/{endpoint['id']}", json={"url": url}, headers=auth
    )

    for refused in (created, changed):
        assert refused.status_code == 422
        assert [(e["loc"], e["msg"]) for e in refused.json()["detail"]] == [(["body", "url"], said)]


async def test_endpoint_can_be_listed_changed_disabled_enabled_and_deleted(stack: Stack) -> None:
    auth = await stack.account()
    created = await stack.endpoint(auth, "https://example.com/a", event_types=["peer.joined"])
    path = f"/v1/endpoints/{created['id']}"

    changed = await stack.api.patch(
        path,
        json={"url": "https://example.com/b", "event_types": ["peer.left"], "retry_policy": "once"},
        headers=auth,
    )
    assert changed.status_code == 200
    assert (changed.json()["url"], changed.json()["event_types"]) == (
        "https://example.com/b",
        ["peer.left"],
    )
    disabled = (await stack.api.patch(path, json={"disabled": True}, headers=auth)).json()
    assert disabled["disabled"] is True and disabled["disabled_at"] is not None
    enabled = (await stack.api.patch(path, json={"disabled": False}, headers=auth)).json()
    assert (enabled["disabled"], enabled["disabled_reason"]) == (False, None)
    bad = await stack.api.patch(path, json={"event_types": ["nope"], "url": None}, headers=auth)
    assert sorted(locations(bad)) == [("body", "event_types", 0)]
    listed = (await stack.api.get("/v1/endpoints", headers=auth)).json()
    assert [item["id"] for item in listed["data"]] == [created["id"]] and listed["count"] == 1

    assert (await stack.api.delete(path, headers=auth)).status_code == 204
    assert (await stack.api.get(path, headers=auth)).status_code == 404
    assert (await stack.api.get("/v1/endpoints", headers=auth)).json()["count"] == 0


async def test_rotated_secret_signs_beside_the_previous_one_until_the_grace_period_ends(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    created = await stack.endpoint(auth, receiver.url("/rotated"))
    path = f"/v1/endpoints/{created['id']}"

    rotated = (await stack.api.post(f"{path}/rotate-secret", headers=auth)).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    grace = datetime.fromisoformat(rotated["previous_secret_expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < grace <= timedelta(hours=24)
    during = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(during["id"])
    async with store.transaction(stack.sessions) as session:
        endpoint = await session.get(Endpoint, created["id"])
        assert endpoint is not None
        endpoint.previous_secret_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(endpoint)
    after = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(after["id"])

    first, second = receiver.received("/rotated")
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(rotated["secret"]).verify(first.body, first.headers)
    Webhook(created["secret"]).verify(first.body, first.headers)
    Webhook(rotated["secret"]).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(second.body, second.headers)


# ---------------------------------------------------------------- emitting


async def test_emit_returns_202_with_the_workflow_id_and_is_readable_at_once(stack: Stack) -> None:
    auth = await stack.account()
    response = await stack.api.post(
        "/v1/events", json={"type": "room.created", "data": example("room.created")}, headers=auth
    )

    assert response.status_code == 202
    event = response.json()
    assert event["id"].startswith("msg_")
    assert event["workflow_id"] == f"event-{event['id']}"
    shown = await stack.api.get(f"/v1/events/{event['id']}", headers=auth)
    assert shown.status_code == 200 and shown.json()["data"] == example("room.created")
    description = await stack.client.get_workflow_handle(event["workflow_id"]).describe()
    assert description.workflow_type == "EventWorkflow"


async def test_emit_with_invalid_data_gets_422_naming_each_failing_field(stack: Stack) -> None:
    auth = await stack.account()
    data = example("peer.joined", role="principal", joined_at="yesterday")
    del data["user_id"]

    response = await stack.api.post(
        "/v1/events", json={"type": "peer.joined", "data": data}, headers=auth
    )

    assert sorted(locations(response)) == [
        ("body", "data", "joined_at"),
        ("body", "data", "role"),
        ("body", "data", "user_id"),
    ]
    assert (await stack.api.get("/v1/events", headers=auth)).json()["data"] == []


async def test_emit_of_unknown_type_or_malformed_body_gets_422(stack: Stack) -> None:
    auth = await stack.account()

    unknown = await stack.api.post(
        "/v1/events", json={"type": "room.exploded", "data": {}}, headers=auth
    )
    no_data = await stack.api.post("/v1/events", json={"type": "room.created"}, headers=auth)
    not_object = await stack.api.post(
        "/v1/events", json={"type": "room.created", "data": [1]}, headers=auth
    )
    not_json = await stack.api.post(
        "/v1/events", content=b"{oops", headers=auth | {"content-type": "application/json"}
    )

    assert locations(unknown) == [("body", "type")]
    assert locations(no_data) == [("body", "data")]
    assert locations(not_object) == [("body", "data")]
    assert not_json.status_code == 422


async def test_same_idempotency_key_returns_the_same_event_and_starts_no_second_workflow(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    await stack.endpoint(auth, receiver.url("/once"))
    body = {"type": "room.created", "data": example("room.created"), "idempotency_key": "class-42"}

    first = await stack.api.post("/v1/events", json=body, headers=auth)
    await stack.settled(first.json()["id"])
    again = await stack.api.post("/v1/events", json=body, headers=auth)
    by_header = await stack.api.post(
        "/v1/events",
        json={"type": "room.created", "data": example("room.created")},
        headers=auth | {"Idempotency-Key": "class-42"},
    )
    await asyncio.sleep(0.5)

    assert first.status_code == again.status_code == by_header.status_code == 202
    assert first.json()["id"] == again.json()["id"] == by_header.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(receiver.received("/once")) == 1
    workflows = [
        w
        async for w in stack.client.list_workflows(f"WorkflowId = '{first.json()['workflow_id']}'")
    ]
    assert len(workflows) == 1
    other = await stack.account("Other")
    elsewhere = await stack.api.post("/v1/events", json=body, headers=other)
    assert elsewhere.json()["id"] != first.json()["id"]


async def test_idempotency_key_reused_for_a_different_event_gets_409(stack: Stack) -> None:
    auth = await stack.account()
    await stack.emit(auth, "room.created", example("room.created"), idempotency_key="k1")

    clash = await stack.api.post(
        "/v1/events",
        json={"type": "room.closed", "data": example("room.closed"), "idempotency_key": "k1"},
        headers=auth,
    )

    assert clash.status_code == 409


async def test_concurrent_emits_with_one_idempotency_key_make_one_event(stack: Stack) -> None:
    auth = await stack.account()
    body = {"type": "room.created", "data": example("room.created"), "idempotency_key": "race"}

    responses = await asyncio.gather(
        *(stack.api.post("/v1/events", json=body, headers=auth) for _ in range(8))
    )

    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await stack.api.get("/v1/events", headers=auth)).json()["data"]) == 1


async def test_emit_while_temporal_is_unreachable_gets_503_and_accepts_nothing(
    store_url: str,
) -> None:
    settings = make_settings(store_url, temporal_rpc_timeout_seconds=2.0)
    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(settings, temporal=unreachable)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        created = await api.post(
            "/v1/accounts", json={"name": "x"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
        body = {"type": "room.created", "data": example("room.created"), "idempotency_key": "k"}

        response = await api.post("/v1/events", json=body, headers=auth)

        assert response.status_code == 503
        assert "unavailable" in response.json()["detail"]
        assert (await api.get("/v1/events", headers=auth)).json()["data"] == []


async def test_emit_whose_started_mark_finds_the_store_locked_is_still_accepted(
    stack: Stack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = await stack.account()
    await stack.endpoint(auth, receiver.url("/locked"))
    mark = EventIntake._mark_started

    def locked_once(intake: EventIntake, event_id: str) -> None:
        # As SQLite answers when another process holds the write lock past the busy timeout.
        monkeypatch.setattr(EventIntake, "_mark_started", mark)
        raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked"))

    monkeypatch.setattr(EventIntake, "_mark_started", locked_once)

    response = await stack.api.post(
        "/v1/events", json={"type": "room.created", "data": example("room.created")}, headers=auth
    )

    # The workflow was started, so the event is durable: refusing it would invite a repeat.
    assert response.status_code == 202, response.text
    event = response.json()
    assert event["type"] == "room.created"
    result = await stack.settled(event["id"])
    assert [outcome.status for outcome in result.outcomes] == ["delivered"]
    shown = await stack.api.get(f"/v1/events/{event['id']}", headers=auth)
    assert shown.status_code == 200


async def test_emit_that_waits_out_the_connection_pool_gets_503_to_retry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = await stack.account()

    async def pool_exhausted(*_: object, **__: object) -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached")

    monkeypatch.setattr(EventIntake, "create_event", pool_exhausted)

    response = await stack.api.post(
        "/v1/events", json={"type": "room.created", "data": example("room.created")}, headers=auth
    )

    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
    assert response.headers["retry-after"] == "5"


# ---------------------------------------------------------------- tenancy


async def test_another_accounts_objects_answer_404(stack: Stack, receiver: Receiver) -> None:
    owner = await stack.account("Owner")
    intruder = await stack.account("Intruder")
    endpoint = await stack.endpoint(owner, receiver.url("/private"))
    event = await stack.emit(owner, "room.created", example("room.created"))
    await stack.settled(event["id"])

    for method, path, body in (
        ("GET", f"/v1/endpoints/{endpoint['id']}", None),
        ("PATCH", f"/v1/endpoints/{endpoint['id']}", {"description": "mine now"}),
        ("DELETE", f"/v1/endpoints/{endpoint['id']}", None),
        ("GET", f"/v1/endpoints/{endpoint['id']}/secret", None),
        ("POST", f"/v1/endpoints/{endpoint['id']}/rotate-secret", None),
        ("GET", f"/v1/endpoints/{endpoint['id']}/attempts", None),
        ("GET", f"/v1/events/{event['id']}", None),
        ("GET", f"/v1/events/{event['id']}/attempts", None),
    ):
        response = await stack.api.request(method, path, json=body, headers=intruder)
        assert response.status_code == 404, (method, path, response.text)

    assert (await stack.api.get("/v1/endpoints", headers=intruder)).json()["count"] == 0
    assert (await stack.api.get("/v1/events", headers=intruder)).json()["data"] == []
    filtered = await stack.api.get(
        "/v1/events", params={"endpoint_id": endpoint["id"]}, headers=intruder
    )
    assert filtered.json()["data"] == []
    still = (await stack.api.get(f"/v1/endpoints/{endpoint['id']}", headers=owner)).json()
    assert still["description"] == ""


# ---------------------------------------------------------------- listings


async def test_events_are_listed_newest_first_with_cursor_pagination(stack: Stack) -> None:
    auth = await stack.account()
    emitted = [
        (await stack.emit(auth, "room.created", example("room.created")))["id"] for _ in range(5)
    ]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await stack.api.get("/v1/events", params=params, headers=auth)).json()
        seen += [event["id"] for event in page["data"]]
        assert len(page["data"]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(emitted, reverse=True)


async def test_events_are_filtered_by_type_status_endpoint_and_time(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/down", Answer(500))
    good = await stack.endpoint(auth, receiver.url("/up"), event_types=["room.created"])
    bad = await stack.endpoint(
        auth, receiver.url("/down"), event_types=["room.closed"], retry_policy="once"
    )
    created = await stack.emit(auth, "room.created", example("room.created"))
    closed = await stack.emit(auth, "room.closed", example("room.closed"))
    await stack.settled(created["id"])
    await stack.settled(closed["id"])

    async def ids(**params: str) -> list[str]:
        page = (await stack.api.get("/v1/events", params=params, headers=auth)).json()
        return [event["id"] for event in page["data"]]

    assert await ids(type="room.closed") == [closed["id"]]
    assert await ids(status="failed") == [closed["id"]]
    assert await ids(status="delivered") == [created["id"]]
    assert await ids(endpoint_id=good["id"]) == [created["id"]]
    assert await ids(endpoint_id=bad["id"], status="delivered") == []
    assert await ids(since=closed["created_at"]) == [closed["id"]]
    assert await ids(until=closed["created_at"]) == [created["id"]]
    bad_status = await stack.api.get("/v1/events", params={"status": "lost"}, headers=auth)
    assert locations(bad_status) == [("query", "status")]


async def test_endpoint_attempts_are_listed_newest_first_and_paginated(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/paged"))
    events = []
    for _ in range(3):
        # One at a time, so the attempts happen in the order of the events.
        events.append(await stack.emit(auth, "peer.left", example("peer.left")))
        await stack.settled(events[-1]["id"])

    first = (
        await stack.api.get(f"/v1/endpoints/{endpoint['id']}/attempts?limit=2", headers=auth)
    ).json()
    rest = (
        await stack.api.get(
            f"/v1/endpoints/{endpoint['id']}/attempts",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=auth,
        )
    ).json()

    listed = [a["event_id"] for a in first["data"] + rest["data"]]
    assert listed == [event["id"] for event in reversed(events)]
    assert rest["next_cursor"] is None
    assert all(
        a["status_code"] == 200 and a["duration_ms"] >= 0 for a in first["data"] + rest["data"]
    )


async def test_idempotency_key_in_header_and_body_must_agree(stack: Stack) -> None:
    auth = await stack.account()
    body = {"type": "room.created", "data": example("room.created"), "idempotency_key": "a"}

    clash = await stack.api.post("/v1/events", json=body, headers=auth | {"Idempotency-Key": "b"})
    agree = await stack.api.post("/v1/events", json=body, headers=auth | {"Idempotency-Key": "a"})

    assert locations(clash) == [("header", "Idempotency-Key")]
    assert agree.status_code == 202
    assert [e["id"] for e in (await stack.api.get("/v1/events", headers=auth)).json()["data"]] == [
        agree.json()["id"]
    ]
