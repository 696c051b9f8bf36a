"""Endpoint URLs that aim at private networks are refused when saved and when delivered to."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from core import store
from core.models import Endpoint
from tests.conftest import make_settings, running_stack
from tests.events import example
from tests.receiver import Receiver

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_private_and_plain_http_urls_are_refused_with_422_outside_development(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    settings = make_settings(database_url, environment="production")
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        for url, complaint in (
            ("https://127.0.0.1/hook", "private, loopback"),
            ("https://localhost/hook", "private, loopback"),
            ("https://169.254.169.254/latest/meta-data", "private, loopback"),
            ("https://[::ffff:10.0.0.1]/hook", "private, loopback"),
            ("http://8.8.8.8/hook", "https"),
        ):
            response = await stack.api.post("/v1/endpoints", json={"url": url}, headers=auth)
            assert response.status_code == 422, url
            (error,) = response.json()["detail"]
            assert error["loc"] == ["body", "url"] and complaint in error["msg"], url
        created = await stack.endpoint(auth, "https://8.8.8.8/hook")
        moved = await stack.api.patch(
            f"/v1/endpoints/{created['id']}", json={"url": "https://10.0.0.7/"}, headers=auth
        )
        assert moved.status_code == 422
        assert moved.json()["detail"][0]["loc"] == ["body", "url"]


async def test_delivery_to_a_refused_address_is_recorded_and_not_retried(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver
) -> None:
    settings = make_settings(database_url, environment="production", delivery_require_https=False)
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        # Saved before the rules applied, or through a name whose DNS answer changed since.
        allowed = await stack.endpoint(auth, "https://8.8.8.8/placeholder")
        async with store.transaction(stack.sessions) as session:
            endpoint = await session.get(Endpoint, allowed["id"])
            assert endpoint is not None
            endpoint.url = f"http://localhost:{receiver.port}/internal"
            session.add(endpoint)

        event = await stack.emit(auth, "room.created", example("room.created"))
        (outcome,) = (await stack.settled(event["id"])).outcomes

        assert (outcome.status, outcome.attempts) == ("failed", 1)
        assert receiver.requests == []
        (attempt,) = (
            await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)
        ).json()["data"]
        assert attempt["outcome"] == "refused" and "127.0.0.1" in attempt["error"]


async def test_delivery_connects_to_the_checked_address_and_keeps_the_host(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver
) -> None:
    settings = make_settings(
        database_url,
        environment="production",
        delivery_require_https=False,
        delivery_allowlist=["127.0.0.0/8"],
    )
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        await stack.endpoint(auth, f"http://localhost:{receiver.port}/pinned")

        event = await stack.emit(auth, "room.created", example("room.created"))
        await stack.settled(event["id"])

        (request,) = receiver.received("/pinned")
        assert request.headers["host"] == f"localhost:{receiver.port}"
