"""A delivery waiting to retry survives the loss of its worker."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import Engine
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


async def _until_delivering(api: httpx.AsyncClient, auth: dict[str, str], event_id: str) -> None:
    """Until the first attempt has failed and been recorded: the delivery is in backoff."""
    for _ in range(200):
        shown = (await api.get(f"/v1/events/{event_id}", headers=auth)).json()
        if [d["status"] for d in shown["deliveries"]] == ["delivering"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the first attempt of {event_id} was not recorded")


async def test_delivery_in_backoff_is_finished_by_a_new_worker(
    temporal_env: WorkflowEnvironment, store_url: str, writer_engine: Engine, receiver: Receiver
) -> None:
    settings = make_settings(store_url)
    engine = store.create_engine(settings.database_url)
    sessions = store.session_factory(engine)
    policies = load_retry_policies(settings.retry_policies_file)
    receiver.script("/later", Answer(503, headers={"Retry-After": "2"}))
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
        await api.post("/v1/endpoints", json={"url": receiver.url("/later")}, headers=auth)

        def new_worker() -> Worker:
            return build_worker(
                temporal_env.client,
                settings=settings,
                sessions=sessions,
                writer_engine=writer_engine,
                http=http,
                policies=policies,
            )

        async with new_worker():
            emitted = await api.post(
                "/v1/events",
                json={"type": "room.closed", "data": example("room.closed")},
                headers=auth,
            )
            event_id = emitted.json()["id"]
            await _until_delivering(api, auth, event_id)
        # The first worker is gone while the delivery waits out its Retry-After.
        (delivery,) = (await api.get(f"/v1/events/{event_id}", headers=auth)).json()["deliveries"]
        assert (delivery["status"], delivery["attempts"]) == ("delivering", 1)

        async with new_worker():
            result = await temporal_env.client.get_workflow_handle(
                event_workflow_id(event_id), result_type=EventWorkflowResult
            ).result()

    (outcome,) = result.outcomes
    assert (outcome.status, outcome.attempts) == ("delivered", 2)
    assert [request.headers["webhook-id"] for request in receiver.received("/later")] == [
        event_id
    ] * 2
    await engine.dispose()
