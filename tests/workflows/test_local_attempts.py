"""First attempts run inside the event's first workflow task; retries run as activities."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError

from core.contracts import event_workflow_id
from tests.conftest import Stack
from tests.events import example
from tests.receiver import Answer, Receiver


async def _history(stack: Stack, event_id: str) -> WorkflowHistory:
    return await stack.client.get_workflow_handle(event_workflow_id(event_id)).fetch_history()


def _of_type(history: WorkflowHistory, kind: EventType.ValueType) -> list[HistoryEvent]:
    return [event for event in history.events if event.event_type == kind]


def _summary(event: HistoryEvent) -> str:
    summary: str = json.loads(event.user_metadata.summary.data)
    return summary


def _marker_result(event: HistoryEvent) -> dict[str, Any]:
    (payload,) = event.marker_recorded_event_attributes.details["result"].payloads
    result: dict[str, Any] = json.loads(payload.data)
    return result


async def test_event_whose_receivers_answer_at_once_settles_in_one_workflow_task(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    urls = [receiver.url(f"/r{n}") for n in range(3)]
    for url in urls:
        await stack.endpoint(auth, url)

    event = await stack.emit(auth, "room.created", example("room.created"))
    result = await stack.settled(event["id"])
    history = await _history(stack, event["id"])

    assert result.delivered == 3
    assert _of_type(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == []
    assert len(_of_type(history, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)) == 1
    # Each delivery is still its own entry in the history, named by its URL, with its answer.
    deliveries = {
        _summary(marker): _marker_result(marker)
        for marker in _of_type(history, EventType.EVENT_TYPE_MARKER_RECORDED)
        if marker.user_metadata.HasField("summary") and _summary(marker).startswith("deliver to ")
    }
    assert deliveries.keys() == {f"deliver to {url}" for url in urls}
    assert all(answer["status_code"] == 200 for answer in deliveries.values())


async def test_failed_first_attempt_hands_the_schedule_to_an_activity_counting_on(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.script("/flaky", Answer(500))
    url = receiver.url("/flaky")
    await stack.endpoint(auth, url, retry_policy="quick-exponential")

    event = await stack.emit(auth, "room.created", example("room.created"))
    result = await stack.settled(event["id"])
    history = await _history(stack, event["id"])

    (outcome,) = result.outcomes
    assert (outcome.status, outcome.attempts) == ("delivered", 2)
    (timer,) = _of_type(history, EventType.EVENT_TYPE_TIMER_STARTED)
    # quick-exponential waits 100 ms after the first attempt's answer; the time it took
    # to store the attempt has already passed.
    assert 0 < timer.timer_started_event_attributes.start_to_fire_timeout.ToMilliseconds() <= 100
    (scheduled,) = _of_type(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    attributes = scheduled.activity_task_scheduled_event_attributes
    (request,) = attributes.input.payloads
    assert json.loads(request.data)["attempts_before"] == 1
    # Four attempts in all: the local one and three more.
    assert attributes.retry_policy.maximum_attempts == 3
    assert _summary(scheduled) == f"deliver to {url}"
    attempts = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()
    assert [(a["attempt"], a["status_code"]) for a in attempts["data"]] == [(2, 200), (1, 500)]


async def test_first_attempt_that_exhausts_a_single_attempt_policy_is_settled_failed(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/down", Answer(500))
    await stack.endpoint(auth, receiver.url("/down"), retry_policy="once")

    event = await stack.emit(auth, "room.created", example("room.created"))
    result = await stack.settled(event["id"])
    history = await _history(stack, event["id"])

    (outcome,) = result.outcomes
    assert (outcome.status, outcome.attempts, outcome.status_code) == ("failed", 1, 500)
    assert _of_type(history, EventType.EVENT_TYPE_TIMER_STARTED) == []
    assert len(receiver.received("/down")) == 1
    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()
    assert shown["deliveries"][0]["status"] == "failed"


async def test_a_delivery_waiting_to_retry_keeps_no_failure_alive_in_the_worker(
    stack: Stack, receiver: Receiver
) -> None:
    """A worker caches waiting workflows: whatever each waiting delivery holds is held as
    many times as deliveries wait."""
    auth = await stack.account()
    receiver.script("/later", Answer(503, headers={"Retry-After": "60"}))
    url = receiver.url("/later")
    await stack.endpoint(auth, url)
    event = await stack.emit(auth, "room.created", example("room.created"))
    handle = stack.client.get_workflow_handle(event["workflow_id"])
    for _ in range(100):
        if _of_type(await handle.fetch_history(), EventType.EVENT_TYPE_TIMER_STARTED):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the delivery never started waiting for its retry")

    gc.collect()
    alive = [
        found
        for found in gc.get_objects()
        if isinstance(found, ApplicationError) and url in str(found)
    ]
    await handle.terminate("the test is over")

    assert alive == []
