"""An accepted event waits in Temporal for a worker, and a delivery waiting to retry
survives the loss of its worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from core import store
from core.contracts import EventWorkflowResult, event_workflow_id
from core.retry import load_retry_policies
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.events import example
from tests.receiver import Answer, Receiver
from worker import build_worker, delivery_client


@dataclass
class _ApiAlone:
    """The API in process, with no worker on its task queue until one is made."""

    api: httpx.AsyncClient
    auth: dict[str, str]
    new_worker: Callable[[], Worker]

    async def emit(self, event_type: str) -> dict[str, Any]:
        emitted = await self.api.post(
            "/v1/events", json={"type": event_type, "data": example(event_type)}, headers=self.auth
        )
        assert emitted.status_code == 202, emitted.text
        event: dict[str, Any] = emitted.json()
        return event

    async def shown(self, event_id: str) -> dict[str, Any]:
        event: dict[str, Any] = (
            await self.api.get(f"/v1/events/{event_id}", headers=self.auth)
        ).json()
        return event

    async def listed(self, **params: str) -> list[str]:
        page = (await self.api.get("/v1/events", params=params, headers=self.auth)).json()
        return [event["id"] for event in page["data"]]


@asynccontextmanager
async def _api_alone(
    temporal_env: WorkflowEnvironment, store_url: str, writer_engine: Engine, endpoint_url: str
) -> AsyncIterator[_ApiAlone]:
    """An account with one endpoint, subscribed to ``room.closed`` at ``endpoint_url``."""
    settings = make_settings(store_url)
    engine = store.create_engine(settings.database_url)
    sessions = store.session_factory(engine)
    policies = load_retry_policies(settings.retry_policies_file)
    app = create_app(settings, temporal=temporal_env.client)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
        delivery_client(settings) as http,
    ):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        key = (await api.post("/v1/accounts", json={"name": "Acme"}, headers=admin)).json()[
            "api_key"
        ]
        auth = {"Authorization": f"Bearer {key}"}
        await api.post(
            "/v1/endpoints",
            json={"url": endpoint_url, "event_types": ["room.closed"]},
            headers=auth,
        )

        def new_worker() -> Worker:
            return build_worker(
                temporal_env.client,
                settings=settings,
                sessions=sessions,
                writer_engine=writer_engine,
                http=http,
                policies=policies,
            )

        yield _ApiAlone(api=api, auth=auth, new_worker=new_worker)
    await engine.dispose()


async def _settled(temporal_env: WorkflowEnvironment, event_id: str) -> EventWorkflowResult:
    handle: WorkflowHandle[Any, EventWorkflowResult] = temporal_env.client.get_workflow_handle(
        event_workflow_id(event_id), result_type=EventWorkflowResult
    )
    return await handle.result()


async def _until_delivering(alone: _ApiAlone, event_id: str) -> None:
    """Until the first attempt has failed and been recorded: the delivery is in backoff."""
    for _ in range(200):
        shown = await alone.shown(event_id)
        if [d["status"] for d in shown["deliveries"]] == ["delivering"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the first attempt of {event_id} was not recorded")


async def test_an_event_accepted_with_no_worker_running_shows_it_waits_for_one(
    temporal_env: WorkflowEnvironment, store_url: str, writer_engine: Engine, receiver: Receiver
) -> None:
    async with _api_alone(temporal_env, store_url, writer_engine, receiver.url("/in")) as alone:
        subscribed = await alone.emit("room.closed")
        unsubscribed = await alone.emit("peer.left")
        # No worker yet: both are accepted, and neither is shown as going nowhere.
        answers = [subscribed, unsubscribed]
        shown = [await alone.shown(event["id"]) for event in answers]
        for event in answers + shown:
            assert (event["endpoints_resolved"], event["deliveries"]) == (False, [])
        newest_first = [unsubscribed["id"], subscribed["id"]]
        assert await alone.listed(resolved="false") == newest_first
        assert await alone.listed(resolved="true") == []

        async with alone.new_worker():
            await _settled(temporal_env, subscribed["id"])
            await _settled(temporal_env, unsubscribed["id"])

        delivered = await alone.shown(subscribed["id"])
        assert delivered["endpoints_resolved"] is True
        assert [d["status"] for d in delivered["deliveries"]] == ["delivered"]
        nowhere = await alone.shown(unsubscribed["id"])
        assert (nowhere["endpoints_resolved"], nowhere["deliveries"]) == (True, [])
        assert await alone.listed(resolved="false") == []
        assert await alone.listed(resolved="true") == newest_first
        assert [r.headers["webhook-id"] for r in receiver.received("/in")] == [subscribed["id"]]


async def test_delivery_in_backoff_is_finished_by_a_new_worker(
    temporal_env: WorkflowEnvironment, store_url: str, writer_engine: Engine, receiver: Receiver
) -> None:
    receiver.script("/later", Answer(503, headers={"Retry-After": "2"}))
    async with _api_alone(temporal_env, store_url, writer_engine, receiver.url("/later")) as alone:
        async with alone.new_worker():
            event_id = (await alone.emit("room.closed"))["id"]
            await _until_delivering(alone, event_id)
        # The first worker is gone while the delivery waits out its Retry-After.
        (delivery,) = (await alone.shown(event_id))["deliveries"]
        assert (delivery["status"], delivery["attempts"]) == ("delivering", 1)

        async with alone.new_worker():
            result = await _settled(temporal_env, event_id)

    (outcome,) = result.outcomes
    assert (outcome.status, outcome.attempts) == ("delivered", 2)
    assert [request.headers["webhook-id"] for request in receiver.received("/later")] == [
        event_id
    ] * 2
