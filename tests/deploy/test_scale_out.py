"""Scaling out: two worker processes on one task queue both take deliveries.

This is what ``make run`` (two workers on one host) and ``docker compose up --scale
worker=N`` rely on: replicas need no coordination of their own, Temporal hands each task
to whichever worker polls for it. Each
worker's share is read from the event workflows' histories, where Temporal records the
identity (``pid@host``, the SDK's default) of the worker that ran each activity.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from core.contracts import event_workflow_id
from devstack import HOST, free_port, worker_environment
from tests.chaos.harness import (
    Process,
    Service,
    TemporalServer,
    Tenant,
    all_delivered,
    api_service,
    wait_until,
)
from tests.conftest import make_settings
from tests.receiver import Receiver

EVENTS = 60
ENDPOINTS = 2


@pytest.fixture
async def service(
    tmp_path: Path, temporal: TemporalServer, database_url: str
) -> AsyncIterator[Service]:
    """The API as a process of its own, on a store migrated as a deployment migrates it."""
    async with api_service(tmp_path, temporal.address, database_url) as running:
        yield running


def identity(worker: Process) -> str:
    assert worker.process is not None
    return f"{worker.process.pid}@{socket.gethostname()}"


async def pollers(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> set[str]:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=kind,
        )
    )
    return {poller.identity for poller in described.pollers}


async def delivering_workers(client: Client, event_ids: Iterable[str]) -> Counter[str]:
    """How many delivery attempts of these events' workflows each worker identity made.

    A first attempt runs as a local activity inside a workflow task: it is a marker in the
    history, made by the worker that completed that task. Retries are activity tasks."""
    ran: Counter[str] = Counter()
    for event_id in event_ids:
        handle = client.get_workflow_handle(event_workflow_id(event_id))
        await handle.result()
        history = await handle.fetch_history()
        task_workers = {
            event.event_id: event.workflow_task_completed_event_attributes.identity
            for event in history.events
            if event.HasField("workflow_task_completed_event_attributes")
        }
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                ran[event.activity_task_started_event_attributes.identity] += 1
            elif event.HasField("marker_recorded_event_attributes"):
                marker = event.marker_recorded_event_attributes
                if marker.marker_name != "core_local_activity":
                    continue
                (data,) = marker.details["data"].payloads
                if json.loads(data.data)["activity_type"] == "deliver":
                    ran[task_workers[marker.workflow_task_completed_event_id]] += 1
    return ran


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are all free now."""
    while True:
        first = free_port()
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, probe in enumerate(sockets):
                probe.bind((HOST, first + offset))
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
        return first


async def attempts_counted(port: int) -> float:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://{HOST}:{port}/metrics")
    answer.raise_for_status()
    return sum(
        sample.value
        for family in text_string_to_metric_families(answer.text)
        if family.name == "webhooks_delivery_attempts"
        for sample in family.samples
        if sample.name == "webhooks_delivery_attempts_total"
    )


async def test_two_workers_on_one_task_queue_share_the_deliveries(
    service: Service, temporal: TemporalServer, receiver: Receiver, database_url: str
) -> None:
    # Metrics on, each worker on ports of its own, as make run starts them.
    first = free_ports(4)
    settings = make_settings(
        database_url, worker_metrics_port=first, temporal_metrics_port=first + 1
    )
    environments = [worker_environment(settings, number) for number in range(2)]
    workers = [service.start_worker(env) for env in environments]
    identities = {identity(worker) for worker in workers}
    client = await Client.connect(temporal.address)
    task_queue = service.env["WEBHOOKS_TASK_QUEUE"]

    seen: dict[str, set[str]] = {}

    async def both_polling() -> bool:
        for kind in (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ):
            seen[TaskQueueType.Name(kind)] = await pollers(client, task_queue, kind)
        return all(identities <= polling for polling in seen.values())

    # Generous, for a loaded machine: the test waits only as long as the workers take.
    try:
        await wait_until(both_polling, timeout=60, what="both workers to poll the task queue")
    except AssertionError as error:
        running = {worker.name: worker.running for worker in workers}
        raise AssertionError(f"{error}: pollers {seen}, workers {identities} {running}") from None
    tenant = await Tenant.create(service, receiver, ENDPOINTS)

    emitted = await tenant.emit(EVENTS)
    counts = await all_delivered(receiver, emitted.accepted, tenant.paths, timeout=60)

    assert len(emitted.accepted) == EVENTS, emitted.statuses
    assert not counts.missing, f"{len(counts.missing)} deliveries never arrived"
    ran = await delivering_workers(client, emitted.accepted)
    assert set(ran) == identities, f"deliveries ran on {dict(ran)}, workers are {identities}"
    assert sum(ran.values()) >= EVENTS * ENDPOINTS
    for worker in workers:
        assert worker.running, f"{worker.name} exited; see {worker.log}"
    for env in environments:
        assert await attempts_counted(int(env["WEBHOOKS_WORKER_METRICS_PORT"])) > 0
        sdk_port = env["WEBHOOKS_TEMPORAL_METRICS_PORT"]
        async with httpx.AsyncClient() as http:
            sdk_metrics = await http.get(f"http://{HOST}:{sdk_port}/metrics")
        assert "temporal_" in sdk_metrics.text
