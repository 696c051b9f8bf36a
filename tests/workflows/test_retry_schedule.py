"""The whole default schedule, three days of retries, on Temporal's time-skipping test server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities
from activities.endpoints import EndpointActivities
from core import store
from core.config import PROJECT_ROOT, Settings
from core.contracts import (
    DeliveryInput,
    DeliveryResult,
    EventWorkflowInput,
    EventWorkflowResult,
    event_workflow_id,
)
from core.delivery_writer import DeliveryWriter
from core.models import Attempt, Delivery, Endpoint
from core.retry import RetryPolicies, load_retry_policies
from tests.conftest import make_settings, venv_binary
from tests.events import example
from tests.receiver import Answer, Receiver
from tests.rows import new_account, new_endpoint, new_event
from worker import attempt_timeout, delivery_client
from workflows.event import EventWorkflow


@pytest.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    async with env:
        yield env


@asynccontextmanager
async def clocked_worker(
    env: WorkflowEnvironment,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    policies: RetryPolicies,
) -> AsyncIterator[list[datetime]]:
    """The service's worker, noting the test server's skipped clock as each delivery starts.

    The receiver only sees wall-clock time, which the test server does not move.
    """
    clock: list[datetime] = []
    writer_engine = store.create_sync_engine(settings.database_url)
    writer = DeliveryWriter(writer_engine, disable_after=settings.auto_disable_after)
    deliveries = DeliveryActivities(
        sessions=sessions,
        writer=writer,
        http=http,
        attempt_timeout=attempt_timeout(settings),
        destinations=settings.destination_policy(),
    )

    @activity.defn(name="deliver")
    async def deliver(request: DeliveryInput) -> DeliveryResult:
        clock.append(await env.get_current_time())
        return await deliveries.deliver(request)

    endpoints = EndpointActivities(
        sessions=sessions,
        reads=store.reads_only(writer_engine),
        writer=writer,
        policies=policies,
        attempt_timeout=timedelta(minutes=1),
    )
    try:
        async with Worker(
            env.client,
            task_queue=settings.task_queue,
            workflows=[EventWorkflow],
            activities=[endpoints.subscribers_for, deliver, deliveries.record_failure],
        ):
            yield clock
    finally:
        writer_engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_default_schedule_runs_to_exhaustion_at_the_scheduled_times(
    time_skipping_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    receiver: Receiver,
) -> None:
    settings = make_settings(database_url, retry_policies_file=PROJECT_ROOT / "retry_policies.toml")
    policies = load_retry_policies(settings.retry_policies_file)
    standard = policies.resolve(endpoint_policy=None, event_type="room.closed")
    receiver.default("/down", Answer(500))
    account_id, _ = await new_account(sessions)
    endpoint = await new_endpoint(sessions, account_id, receiver.url("/down"), ["room.closed"])
    event = await new_event(sessions, account_id, kind="room.closed", data=example("room.closed"))

    async with (
        delivery_client(settings) as http,
        clocked_worker(
            time_skipping_env, settings=settings, sessions=sessions, http=http, policies=policies
        ) as clock,
    ):
        result = await time_skipping_env.client.execute_workflow(
            EventWorkflow.run,
            # The time-skipping test server cannot register search attributes.
            EventWorkflowInput(
                event_id=event.id,
                account_id=account_id,
                event_type=event.type,
                search_attributes=False,
                local_first_attempts=True,
            ),
            id=event_workflow_id(event.id),
            task_queue=settings.task_queue,
        )

    (outcome,) = result.outcomes
    assert (outcome.endpoint_id, outcome.status, outcome.attempts) == (endpoint.id, "failed", 10)
    assert len(receiver.received("/down")) == 10
    async with sessions() as session:
        attempts = (await session.exec(select(Attempt).order_by(col(Attempt.attempt)))).all()
        delivery = (await session.exec(select(Delivery))).one()
    assert [attempt.attempt for attempt in attempts] == list(range(1, 11))
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 10, None)

    gaps = [later - earlier for earlier, later in itertools.pairwise(clock)]
    expected = [timedelta(seconds=seconds) for seconds in standard.schedule_seconds[1:]]
    for gap, wanted in zip(gaps, expected, strict=True):
        # Each wait is the scheduled one, spread by the policy's jitter (10%).
        assert wanted * 0.9 - timedelta(seconds=1) <= gap <= wanted * 1.1 + timedelta(seconds=1), (
            gap,
            wanted,
        )
    # About three days in all, within what the jitter of each wait allows.
    nominal = sum(expected, timedelta())
    assert timedelta(days=3) < nominal < timedelta(days=3, hours=4)
    slack = timedelta(seconds=len(expected))
    assert nominal * 0.9 - slack <= clock[-1] - clock[0] <= nominal * 1.1 + slack


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_endpoint_failing_for_five_days_is_disabled_and_its_retries_stop(
    time_skipping_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    receiver: Receiver,
) -> None:
    settings = make_settings(database_url, retry_policies_file=PROJECT_ROOT / "retry_policies.toml")
    assert settings.auto_disable_after == timedelta(days=5)
    policies = load_retry_policies(settings.retry_policies_file)
    receiver.default("/down", Answer(500))
    account_id, _ = await new_account(sessions)
    endpoint = await new_endpoint(sessions, account_id, receiver.url("/down"))
    first, second = [
        await new_event(sessions, account_id, kind="room.closed", data=example("room.closed"))
        for _ in range(2)
    ]

    async def start(event_id: str) -> WorkflowHandle[EventWorkflow, EventWorkflowResult]:
        return await time_skipping_env.client.start_workflow(
            EventWorkflow.run,
            EventWorkflowInput(
                event_id=event_id,
                account_id=account_id,
                event_type="room.closed",
                search_attributes=False,
                local_first_attempts=True,
            ),
            id=event_workflow_id(event_id),
            task_queue=settings.task_queue,
        )

    async with (
        delivery_client(settings) as http,
        clocked_worker(
            time_skipping_env, settings=settings, sessions=sessions, http=http, policies=policies
        ),
    ):
        earlier = await start(first.id)
        await receiver.wait_for("/down", 1)
        # The second event comes four days after the first failure, so its schedule runs
        # past the fifth day of failing without a single success.
        await time_skipping_env.sleep(timedelta(days=4))
        later = await (await start(second.id)).result()
        await earlier.result()

    async with sessions() as session:
        disabled = await session.get(Endpoint, endpoint.id)
    assert disabled is not None and disabled.disabled_at is not None
    assert (disabled.disabled_reason or "").startswith("no successful delivery since")
    (outcome,) = later.outcomes
    assert outcome.status == "failed"
    requests_for_second = [
        r for r in receiver.received("/down") if r.headers["webhook-id"] == second.id
    ]
    # Its schedule has ten attempts; the disabled endpoint got none of the rest.
    assert 1 <= len(requests_for_second) < 10
