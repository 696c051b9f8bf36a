"""The two baselines: the ceiling (signed POSTs, no durability) and the Temporal floor.

The ceiling sends what a delivery sends, body and signature built by the project's own
functions, from one asyncio process through one ``httpx.AsyncClient`` configured as the
worker's. The floor starts a workflow of K no-op activities the way the API starts an
event's workflow.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from activities.delivery import webhook_body
from bench.driver import Send, Sent
from bench.floor_workflow import FloorInput, FloorWorkflow
from bench.pipeline import EVENT_TYPE, Endpoint, event_data
from bench.workloads import SETTLE_TIMEOUT
from core.config import Settings
from core.contracts import event_search_attributes
from core.ids import new_id
from core.models import Event, utc_now
from core.signing import signed_headers


def ceiling_sender(
    http: httpx.AsyncClient, endpoints: list[Endpoint], *, max_in_flight: int
) -> Send:
    """One event: a signed POST to each endpoint at once, as the K deliveries would be.

    At most ``max_in_flight`` POSTs are under way, as a worker runs at most that many
    delivery activities.
    """
    data = event_data()
    slots = asyncio.Semaphore(max_in_flight)

    async def post(endpoint: Endpoint, event_id: str, body: str) -> int:
        async with slots:
            headers = signed_headers(
                [endpoint.secret], message_id=event_id, timestamp=int(time.time()), body=body
            )
            headers["content-type"] = "application/json"
            response = await http.post(endpoint.url, content=body, headers=headers)
            return response.status_code

    async def send(number: int) -> Sent:
        event = Event(
            id=new_id("msg"), account_id="bench", type=EVENT_TYPE, data=data, created_at=utc_now()
        )
        body = webhook_body(event)
        statuses = await asyncio.gather(*(post(e, event.id, body) for e in endpoints))
        worst = max(statuses)
        return Sent(accepted=worst < 300, event_id=event.id, status=worst)

    return send


def floor_sender(client: Client, settings: Settings, *, fanout: int, tag: str) -> Send:
    """Start one floor workflow with the options the API gives an event's workflow."""

    async def send(number: int) -> Sent:
        workflow_id = f"floor-{tag}-{number}"
        await client.start_workflow(
            FloorWorkflow.run,
            FloorInput(fanout=fanout),
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # The tag stands in the account's place, so a workload's runs can be counted.
            search_attributes=event_search_attributes(EVENT_TYPE, tag),
            static_summary=f"{EVENT_TYPE} for account {tag} to {fanout} endpoints",
            rpc_timeout=timedelta(seconds=settings.temporal_rpc_timeout_seconds),
        )
        return Sent(accepted=True, event_id=workflow_id, status=200)

    return send


class FloorProgress:
    """Completed floor workflows of one workload, from Temporal's visibility store."""

    poll_interval = 0.25

    def __init__(self, client: Client, *, fanout: int, tag: str) -> None:
        self._client = client
        self._fanout = fanout
        self._query = f"WorkflowType='FloorWorkflow' AND WebhookAccountId='{tag}'"

    async def settle(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            running = await self._client.count_workflows(
                "WorkflowType='FloorWorkflow' AND ExecutionStatus='Running'"
            )
            if running.count == 0:
                return
            await asyncio.sleep(self.poll_interval)

    async def reset(self) -> None:
        return None

    async def delivered(self) -> int:
        completed = await self._client.count_workflows(
            f"{self._query} AND ExecutionStatus='Completed'"
        )
        return completed.count * self._fanout

    async def receipts(self) -> dict[str, list[float]]:
        """Each completed workflow's close time, once per activity it ran."""
        closed: dict[str, list[float]] = {}
        async for execution in self._client.list_workflows(
            f"{self._query} AND ExecutionStatus='Completed'", page_size=1000
        ):
            if execution.close_time is not None:
                closed[execution.id] = [execution.close_time.timestamp()] * self._fanout
        return closed
