"""Operators find event workflows by type, account, endpoint and outcome, and ask them how
each delivery stands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata

from core.contracts import DELIVERIES_QUERY, EndpointState
from tests.conftest import Stack
from tests.events import example
from tests.receiver import Answer, Receiver


async def _workflow_ids(stack: Stack, query: str, expected: int) -> set[str]:
    """The ids a visibility query returns, once it has caught up with ``expected`` of them."""
    for _ in range(100):
        found = {w.id async for w in stack.client.list_workflows(query)}
        if len(found) >= expected:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_workflows_are_found_by_type_account_endpoint_and_status(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/down", Answer(500))
    good = await stack.endpoint(auth, receiver.url("/up"), event_types=["room.closed"])
    bad = await stack.endpoint(
        auth, receiver.url("/down"), event_types=["room.closed", "peer.left"], retry_policy="once"
    )
    both = await stack.emit(auth, "room.closed", example("room.closed"))
    only_bad = await stack.emit(auth, "peer.left", example("peer.left"))
    for event in (both, only_bad):
        await stack.settled(event["id"])
    queue = f"TaskQueue = '{stack.settings.task_queue}'"

    partial = await _workflow_ids(
        stack,
        f"{queue} AND WebhookEventType = 'room.closed' AND WebhookStatus = 'partially_failed'",
        1,
    )
    failed = await _workflow_ids(stack, f"{queue} AND WebhookStatus = 'failed'", 1)
    by_endpoint = await _workflow_ids(stack, f"{queue} AND WebhookEndpointIds = '{bad['id']}'", 2)
    by_good_endpoint = await _workflow_ids(
        stack, f"{queue} AND WebhookEndpointIds = '{good['id']}'", 1
    )
    delivering = await _workflow_ids(stack, f"{queue} AND WebhookStatus = 'delivering'", 0)

    assert partial == {both["workflow_id"]}
    described = await stack.client.get_workflow_handle(both["workflow_id"]).describe()
    assert (await described.static_summary() or "").endswith(" to 2 endpoints")
    assert failed == {only_bad["workflow_id"]}
    assert by_endpoint == {both["workflow_id"], only_bad["workflow_id"]}
    assert by_good_endpoint == {both["workflow_id"]}
    assert delivering == set()


async def test_status_is_delivering_until_the_deliveries_settle(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.script("/slow", Answer(503, headers={"Retry-After": "2"}))
    await stack.endpoint(auth, receiver.url("/slow"))
    event = await stack.emit(auth, "room.created", example("room.created"))
    await receiver.wait_for("/slow", 1)
    queue = f"TaskQueue = '{stack.settings.task_queue}'"

    during = await _workflow_ids(stack, f"{queue} AND WebhookStatus = 'delivering'", 1)
    await stack.settled(event["id"])
    after = await _workflow_ids(stack, f"{queue} AND WebhookStatus = 'delivered'", 1)

    assert during == after == {event["workflow_id"]}


async def test_deliveries_query_shows_attempts_last_status_and_next_retry_live(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.script("/later", Answer(503, headers={"Retry-After": "3"}))
    endpoint = await stack.endpoint(auth, receiver.url("/later"))
    event = await stack.emit(auth, "room.created", example("room.created"))
    handle = stack.client.get_workflow_handle(event["workflow_id"])

    live: list[EndpointState] = []
    asked_at = answered_at = datetime.now(UTC)
    for _ in range(100):
        asked_at = datetime.now(UTC)
        live = await handle.query(DELIVERIES_QUERY, result_type=list[EndpointState])
        answered_at = datetime.now(UTC)
        if live and live[0].attempts == 1:
            break
        await asyncio.sleep(0.05)
    await stack.settled(event["id"])
    settled = await handle.query(DELIVERIES_QUERY, result_type=list[EndpointState])

    (during,) = live
    assert (during.endpoint_id, during.status, during.attempts, during.last_status_code) == (
        endpoint["id"],
        "delivering",
        1,
        503,
    )
    assert during.next_attempt_at is not None
    # A query that comes while the workflow task is open is answered once it closes, so
    # the state it shows may be newer than the question: the retry is 3 s from the answer.
    assert asked_at < during.next_attempt_at <= answered_at + timedelta(seconds=3.5)
    (after,) = settled
    assert (after.status, after.attempts, after.last_status_code) == ("delivered", 2, 200)
    summary = await (await handle.describe()).static_summary()
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert summary is not None and summary.startswith("room.created for account acct_")
    assert summary.endswith(" to 1 endpoint")
    assert metadata.current_details == "1 endpoints: 1 delivered"
