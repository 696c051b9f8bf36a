"""The worker: runs event workflows and their delivery activities.

This is the one place where workflows, activities and their dependencies meet.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

import httpx
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities
from activities.endpoints import EndpointActivities
from core import store
from core.automations import AutomationError, Automations, load_automations
from core.config import Settings, get_settings
from core.retry import RetryPolicies, RetryPolicyError, load_retry_policies
from core.schema import SchemaError, require_current_schema
from workflows.event import EventWorkflow
from workflows.recover import RecoverWorkflow

logger = logging.getLogger("worker")


def delivery_client(settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client every delivery shares: pooled, bounded, never following redirects."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.delivery_read_timeout_seconds,
            connect=settings.delivery_connect_timeout_seconds,
        ),
        limits=httpx.Limits(
            max_connections=settings.delivery_max_connections,
            max_keepalive_connections=settings.delivery_max_connections,
        ),
        follow_redirects=False,
        headers={"user-agent": settings.delivery_user_agent},
    )


def attempt_timeout(settings: Settings) -> timedelta:
    """How long one attempt may take in all: connecting, then reading the answer."""
    return timedelta(
        seconds=settings.delivery_connect_timeout_seconds + settings.delivery_read_timeout_seconds
    )


def build_worker(
    client: Client,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    policies: RetryPolicies,
    automations: Automations | None = None,
) -> Worker:
    deliveries = DeliveryActivities(
        sessions=sessions,
        http=http,
        attempt_timeout=attempt_timeout(settings),
        destinations=settings.destination_policy(),
        auto_disable_after=settings.auto_disable_after,
        temporal=client,
    )
    endpoints = EndpointActivities(
        automations=automations,
        sessions=sessions,
        policies=policies,
        attempt_timeout=attempt_timeout(settings) + timedelta(seconds=15),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[EventWorkflow, RecoverWorkflow],
        activities=[
            endpoints.subscribers_for,
            endpoints.recoverable_events,
            endpoints.emit_operational_event,
            deliveries.deliver,
            deliveries.record_failure,
        ],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        # On SIGTERM, attempts in flight get to finish and be recorded rather than be cut
        # off and repeated by the next worker.
        graceful_shutdown_timeout=attempt_timeout(settings),
    )


async def connect_when_reachable(settings: Settings) -> Client:
    """Connect to Temporal, waiting for it if it is down: a worker that starts first, or
    while Temporal restarts, should begin working when Temporal is back, not exit."""
    delay = 1.0
    while True:
        try:
            return await Client.connect(**settings.temporal_connect_config())
        except RuntimeError as error:
            logger.warning("Temporal is unreachable (%s); retrying in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def main() -> None:
    try:
        settings = get_settings()
        policies = load_retry_policies(settings.retry_policies_file)
        automations = load_automations(settings.automations_file)
    except (ValidationError, RetryPolicyError, AutomationError) as error:
        sys.exit(f"worker cannot start: {error}")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    engine = store.create_engine(settings.database_url)
    try:
        await require_current_schema(engine)
    except SchemaError as error:
        await engine.dispose()
        sys.exit(f"worker cannot start: {error}")
    client = await connect_when_reachable(settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with delivery_client(settings) as http:
        worker = build_worker(
            client,
            settings=settings,
            sessions=store.session_factory(engine),
            http=http,
            policies=policies,
            automations=automations,
        )
        async with worker:
            logger.info("worker polling task queue %r", settings.task_queue)
            await stop.wait()
            logger.info("worker stopping: finishing the attempts in flight")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
