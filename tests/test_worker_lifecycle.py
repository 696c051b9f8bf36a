"""The worker process's life around Temporal: starting while Temporal goes away."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.retry import load_retry_policies
from devstack import free_port
from tests.chaos.harness import wait_until
from tests.conftest import make_settings
from tests.proxies import TCPProxy
from worker import build_worker, run_until_stopped, warn_of_a_small_cache
from workflows.recover import RecoverWorkflow


async def test_worker_that_loses_temporal_as_it_starts_waits_and_starts_again(
    temporal_env: WorkflowEnvironment,
) -> None:
    upstream = temporal_env.client.service_client.config.target_host
    proxy = TCPProxy(upstream, port=free_port())
    await proxy.start()
    task_queue = f"webhooks-{uuid.uuid4()}"
    connections = 0

    async def connect() -> Client:
        nonlocal connections
        connections += 1
        if connections == 1:
            client = await Client.connect(proxy.address)
            await proxy.stop()  # Temporal goes away just as the worker is about to start
            return client
        await proxy.start()
        return await Client.connect(proxy.address)

    def new_worker(client: Client) -> Worker:
        return Worker(client, task_queue=task_queue, workflows=[RecoverWorkflow])

    async def polled() -> bool:
        described = await temporal_env.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=temporal_env.client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return bool(described.pollers)

    stop = asyncio.Event()
    running = asyncio.create_task(run_until_stopped(new_worker, connect, stop))
    try:
        # The SDK retries its namespace check for a while before the first worker fails.
        await wait_until(polled, timeout=120, what="the worker to poll once Temporal is back")
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        await proxy.stop()

    assert connections == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_worker_takes_no_more_workflow_tasks_than_configured(
    temporal_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    writer_engine: Engine,
    store_url: str,
) -> None:
    """Each workflow task runs its first attempts in the worker: a burst beyond the bound
    waits in Temporal rather than in the worker's activity slots."""
    settings = make_settings(store_url, worker_max_concurrent_workflow_tasks=7)
    async with httpx.AsyncClient() as http:
        worker = build_worker(
            temporal_env.client,
            settings=settings,
            sessions=sessions,
            writer_engine=writer_engine,
            http=http,
            policies=load_retry_policies(settings.retry_policies_file),
        )
    config = worker.config()
    assert config.get("max_concurrent_workflow_tasks") == 7
    assert config.get("max_cached_workflows") == 14


def test_worker_warns_of_a_cache_too_small_for_its_workflow_tasks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store_url = "sqlite+aiosqlite://"
    with caplog.at_level(logging.WARNING, logger="worker"):
        warn_of_a_small_cache(make_settings(store_url, worker_max_concurrent_workflow_tasks=20))
        warn_of_a_small_cache(
            make_settings(
                store_url, worker_max_concurrent_workflow_tasks=20, worker_max_cached_workflows=40
            )
        )
        warn_of_a_small_cache(
            make_settings(
                store_url, worker_max_concurrent_workflow_tasks=20, worker_max_cached_workflows=30
            )
        )

    assert [record.getMessage() for record in caplog.records] == [
        "WEBHOOKS_WORKER_MAX_CACHED_WORKFLOWS=30 is below twice the workflow tasks (40): "
        "workflow tasks may time out and some deliveries be attempted twice"
    ]
