"""The service's metrics, scraped over real HTTP from the API and the worker's metrics port
while real events reach a real receiver through a real Temporal server.

The registry is the process's, so each test reads the counters before and after and checks
the difference.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.contracts import EventWorkflowResult, event_workflow_id
from devstack import free_port
from tests.conftest import ADMIN_TOKEN, make_settings, running_stack
from tests.events import example
from tests.observability.scraping import Scrape, parse, scrape
from tests.receiver import Answer, Receiver
from worker import serve_metrics, temporal_runtime

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "dashboards" / "webhooks.json"
METRIC_NAME = re.compile(r"\b((?:webhooks|temporal)_[a-z0-9_]+)")


@pytest.fixture
def worker_metrics(database_url: str) -> Iterator[str]:
    """The worker's metrics server, started as worker.py starts it, on a free port."""
    settings = make_settings(database_url, worker_metrics_port=free_port())
    server = serve_metrics(settings)
    assert server is not None
    yield f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    server.shutdown()
    server.server_close()


async def settle(client: Client, event_id: str) -> EventWorkflowResult:
    handle: WorkflowHandle[Any, EventWorkflowResult] = client.get_workflow_handle(
        event_workflow_id(event_id), result_type=EventWorkflowResult
    )
    return await handle.result()


async def test_counters_move_by_exactly_what_was_emitted_and_delivered(
    served_api: str, temporal_env: WorkflowEnvironment, receiver: Receiver, worker_metrics: str
) -> None:
    receiver.script("/flaky", Answer(500))
    receiver.default("/gone", Answer(410))
    async with httpx.AsyncClient(base_url=served_api) as api:
        created = await api.post(
            "/v1/accounts",
            json={"name": "Metered"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
        for path, event_type in (
            ("/ok", "room.created"),
            ("/flaky", "room.closed"),
            ("/gone", "peer.joined"),
        ):
            response = await api.post(
                "/v1/endpoints",
                json={"url": receiver.url(path), "event_types": [event_type]},
                headers=auth,
            )
            assert response.status_code == 201, response.text

        async def emit(event_type: str, **fields: Any) -> httpx.Response:
            body = {"type": event_type, "data": example(event_type), **fields}
            return await api.post("/v1/events", json=body, headers=auth)

        api_before = await scrape(f"{served_api}/metrics")
        worker_before = await scrape(worker_metrics)

        accepted = [
            await emit("room.created", idempotency_key="metered-1"),
            await emit("room.created"),
            await emit("room.closed"),
            await emit("peer.joined"),
        ]
        replayed = await emit("room.created", idempotency_key="metered-1")
        rejected = await api.post(
            "/v1/events", json={"type": "room.created", "data": {}}, headers=auth
        )
        assert [r.status_code for r in accepted] == [202] * 4
        assert replayed.headers["idempotent-replayed"] == "true"
        assert rejected.status_code == 422
        results = await asyncio.gather(
            *(settle(temporal_env.client, r.json()["id"]) for r in accepted)
        )

        api_after = await scrape(f"{served_api}/metrics")
    worker_after = await scrape(worker_metrics)

    assert [outcome.status for result in results for outcome in result.outcomes] == [
        "delivered",
        "delivered",
        "delivered",
        "failed",
    ]

    def emitted(event_type: str) -> float:
        name = "webhooks_events_emitted_total"
        return api_after.value(name, event_type=event_type) - api_before.value(
            name, event_type=event_type
        )

    assert (emitted("room.created"), emitted("room.closed"), emitted("peer.joined")) == (2, 1, 1)

    def moved(name: str, **labels: str) -> float:
        return worker_after.total(name, **labels) - worker_before.total(name, **labels)

    attempts = "webhooks_delivery_attempts_total"
    assert moved(attempts, outcome="succeeded", status_class="2xx") == 3
    assert moved(attempts, outcome="failed", status_class="5xx") == 1
    assert moved(attempts, outcome="gone", status_class="4xx") == 1
    assert moved(attempts) == 5
    assert moved("webhooks_deliveries_total", outcome="delivered") == 3
    assert moved("webhooks_deliveries_total", outcome="failed") == 1
    assert moved("webhooks_delivery_attempt_duration_seconds_count") == 5
    assert moved("webhooks_delivery_latency_seconds_count") == 3
    assert moved("webhooks_delivery_latency_seconds_sum") > 0
    assert moved("webhooks_delivery_attempts_per_delivery_count") == 4
    assert moved("webhooks_delivery_attempts_per_delivery_sum") == 1 + 1 + 2 + 1
    assert moved("webhooks_endpoints_disabled_total", reason="gone") == 1
    assert moved("webhooks_endpoints_disabled_total", reason="failing_too_long") == 0


# ---------------------------------------------------------------- the Temporal SDK's metrics


@pytest.fixture(scope="module")
async def sdk_metrics(temporal_env: WorkflowEnvironment) -> AsyncIterator[tuple[Client, str]]:
    """A client on a runtime of its own that serves the SDK's metrics, built as worker.py
    builds it. A runtime binds its address once, so the module's tests share this one."""
    port = free_port()
    runtime = temporal_runtime(make_settings("sqlite://", temporal_metrics_port=port))
    assert runtime is not None
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        namespace=temporal_env.client.namespace,
        runtime=runtime,
    )
    yield client, f"http://127.0.0.1:{port}/metrics"


async def deliver_one_event(
    sdk_metrics: tuple[Client, str], database_url: str, receiver: Receiver
) -> tuple[str, Scrape, Scrape]:
    """Run the API and a worker on the SDK-metered client and deliver one event. Returns the
    worker's task queue, the API's metrics and the SDK's, scraped while the worker runs."""
    client, sdk_url = sdk_metrics
    settings = make_settings(database_url)
    async with running_stack(WorkflowEnvironment.from_client(client), settings) as stack:
        auth = await stack.account()
        # One failure first, so the delivery has a local first attempt and a retry.
        receiver.script("/sdk", Answer(500))
        await stack.endpoint(auth, receiver.url("/sdk"), event_types=["room.created"])
        event = await stack.emit(auth, "room.created", example("room.created"))
        (outcome,) = (await stack.settled(event["id"])).outcomes
        assert outcome.status == "delivered"
        response = await stack.api.get("/metrics")
        assert response.status_code == 200
        return settings.task_queue, parse(response.text), await scrape(sdk_url)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_worker_runtime_serves_the_sdk_metrics_of_its_task_queue(
    sdk_metrics: tuple[Client, str], database_url: str, receiver: Receiver
) -> None:
    task_queue, _, sdk = await deliver_one_event(sdk_metrics, database_url, receiver)

    # The event workflow looked up its endpoint and made the first attempt as local
    # activities, then retried as an ordinary activity in a later workflow task.
    assert (
        sdk.total("temporal_workflow_task_schedule_to_start_latency_count", task_queue=task_queue)
        >= 2
    )
    assert sdk.total("temporal_local_activity_execution_latency_count", task_queue=task_queue) >= 2
    assert (
        sdk.total("temporal_activity_schedule_to_start_latency_count", task_queue=task_queue) >= 1
    )
    slots = sdk.total(
        "temporal_worker_task_slots_available", task_queue=task_queue, worker_type="ActivityWorker"
    )
    used = sdk.total(
        "temporal_worker_task_slots_used", task_queue=task_queue, worker_type="ActivityWorker"
    )
    assert slots + used == make_settings(database_url).worker_max_concurrent_activities


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_metric_the_dashboard_queries_is_served(
    sdk_metrics: tuple[Client, str], database_url: str, receiver: Receiver
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in METRIC_NAME.findall(target["expr"])
    }

    _, project, sdk = await deliver_one_event(sdk_metrics, database_url, receiver)

    assert {name for name in queried if name.startswith("webhooks_")} - project.names == set()
    assert {name for name in queried if name.startswith("temporal_")} - sdk.names == set()
    assert len(queried) >= 10  # the dashboard was read, not an empty file


def test_dashboard_panels_use_its_prometheus_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = dashboard["templating"]["list"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]

    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    assert panels and all(
        panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        and all(target["datasource"] == panel["datasource"] for target in panel["targets"])
        for panel in panels
    )
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_endpoint_disabled_for_failing_too_long_is_counted_once_with_its_delivery(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver
) -> None:
    # A window of about a second stands in for the default five days.
    settings = make_settings(database_url, auto_disable_after_hours=1 / 3600)
    receiver.default("/down", Answer(500))
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        await stack.endpoint(auth, receiver.url("/down"))
        before = parse((await stack.api.get("/metrics")).text)

        event = await stack.emit(auth, "room.closed", example("room.closed"))
        (outcome,) = (await stack.settled(event["id"])).outcomes

        after = parse((await stack.api.get("/metrics")).text)

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    assert outcome.status == "failed" and outcome.disabled_reason
    assert moved("webhooks_endpoints_disabled_total", reason="failing_too_long") == 1
    assert moved("webhooks_endpoints_disabled_total", reason="gone") == 0
    assert moved("webhooks_deliveries_total", outcome="failed") == 1
    assert moved("webhooks_deliveries_total", outcome="delivered") == 0
    assert moved("webhooks_delivery_attempts_total", outcome="failed") == outcome.attempts
    assert moved("webhooks_delivery_attempts_per_delivery_count") == 1
    assert moved("webhooks_delivery_attempts_per_delivery_sum") == outcome.attempts
