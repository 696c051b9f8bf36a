"""Body size and emit rate limits, and the one shape every error body has."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import ADMIN_TOKEN, Stack, make_settings, running_stack
from tests.events import example


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_emit_body_above_the_limit_gets_413_and_stores_nothing(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    settings = make_settings(database_url, max_body_bytes=4096)
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        data = example("recording.failed", failure_reason="x" * 1000)
        big = example("recording.failed", failure_reason="x" * 5000)

        fits = await stack.api.post(
            "/v1/events", json={"type": "recording.failed", "data": data}, headers=auth
        )
        declared = await stack.api.post(
            "/v1/events", json={"type": "recording.failed", "data": big}, headers=auth
        )

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        streamed = await stack.api.post(
            "/v1/events", content=chunks(), headers=auth | {"content-type": "application/json"}
        )

        assert fits.status_code == 202
        assert declared.status_code == streamed.status_code == 413
        assert declared.json()["code"] == "payload_too_large"
        listed = (await stack.api.get("/v1/events", headers=auth)).json()["data"]
        assert [event["id"] for event in listed] == [fits.json()["id"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_emitting_faster_than_the_rate_limit_gets_429_with_retry_after(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    settings = make_settings(database_url, emit_rate_per_second=0.5, emit_burst=3)
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        other = await stack.account("Other")
        body = {"type": "room.created", "data": example("room.created")}

        answers = [await stack.api.post("/v1/events", json=body, headers=auth) for _ in range(4)]
        elsewhere = await stack.api.post("/v1/events", json=body, headers=other)

        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        assert answers[3].json()["code"] == "rate_limited"
        assert 1 <= int(answers[3].headers["retry-after"]) <= 2
        assert elsewhere.status_code == 202


async def test_every_error_has_a_code_and_a_detail(stack: Stack) -> None:
    auth = await stack.account()

    errors = {
        "unauthorized": await stack.api.get("/v1/endpoints"),
        "not_found": await stack.api.get("/v1/endpoints/ep_missing", headers=auth),
        "validation_error": await stack.api.post("/v1/endpoints", json={"url": 5}, headers=auth),
        "method_not_allowed": await stack.api.put("/v1/events", headers=auth),
        "conflict": None,
    }
    await stack.emit(auth, "room.created", example("room.created"), idempotency_key="k")
    errors["conflict"] = await stack.api.post(
        "/v1/events",
        json={"type": "room.closed", "data": example("room.closed"), "idempotency_key": "k"},
        headers=auth,
    )
    admin = await stack.api.post(
        "/v1/accounts", json={}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    for code, response in errors.items():
        assert response is not None
        assert set(response.json()) == {"code", "detail"}, response.text
        assert response.json()["code"] == code
    assert admin.json()["code"] == "validation_error"
    assert admin.json()["detail"][0]["loc"] == ["body", "name"]
