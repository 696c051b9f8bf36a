"""Automations chain off delivery outcomes: workflows started once, operational events sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.automations import AutomationError, load_automations
from core.contracts import DeliveryReport, automation_workflow_id
from tests.conftest import Stack, make_settings, running_stack
from tests.events import example
from tests.receiver import Answer, Receiver
from tests.workflows.chained import RecordReport

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def chained_queue(temporal_env: WorkflowEnvironment) -> AsyncIterator[str]:
    queue = f"chained-{uuid.uuid4()}"
    async with Worker(temporal_env.client, task_queue=queue, workflows=[RecordReport]):
        yield queue


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "automations.toml"
    path.write_text(text)
    return path


async def automated_stack(
    temporal_env: WorkflowEnvironment, database_url: str, automations: Path
) -> Any:
    return running_stack(temporal_env, make_settings(database_url, automations_file=automations))


async def test_delivered_starts_the_chained_workflow_once_even_after_a_resend(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    receiver: Receiver,
    chained_queue: str,
    tmp_path: Path,
) -> None:
    automations = rules_file(
        tmp_path,
        f"""
        [[rules]]
        name = "archive"
        when = "delivered"
        event_types = ["recording.processed"]
        start_workflow = {{ type = "RecordReport", task_queue = "{chained_queue}" }}
        """,
    )
    async with await automated_stack(temporal_env, database_url, automations) as stack:
        auth = await stack.account()
        endpoint = await stack.endpoint(auth, receiver.url("/lms"))
        other = await stack.emit(auth, "room.created", example("room.created"))
        event = await stack.emit(auth, "recording.processed", example("recording.processed"))
        await stack.settled(other["id"])
        await stack.settled(event["id"])
        resent = await stack.api.post(
            f"/v1/events/{event['id']}/resend", json={"endpoint_id": endpoint["id"]}, headers=auth
        )
        await stack.client.get_workflow_handle(resent.json()["workflow_id"]).result()

        chained_id = automation_workflow_id("archive", event["id"], endpoint["id"])
        report = await stack.client.get_workflow_handle(
            chained_id, result_type=DeliveryReport
        ).result()
        chained = [
            w.id
            async for w in stack.client.list_workflows(
                f"TaskQueue = '{chained_queue}' AND WorkflowType = 'RecordReport'"
            )
        ]

    assert chained == [chained_id]
    assert (report.trigger, report.event_id, report.event_type) == (
        "delivered",
        event["id"],
        "recording.processed",
    )
    assert (report.endpoint_id, report.outcome, report.attempts, report.last_status_code) == (
        endpoint["id"],
        "delivered",
        1,
        200,
    )


async def test_settled_fires_once_per_event_with_its_overall_outcome(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    receiver: Receiver,
    chained_queue: str,
    tmp_path: Path,
) -> None:
    automations = rules_file(
        tmp_path,
        f"""
        [[rules]]
        name = "tally"
        when = "settled"
        start_workflow = {{ type = "RecordReport", task_queue = "{chained_queue}" }}
        """,
    )
    async with await automated_stack(temporal_env, database_url, automations) as stack:
        auth = await stack.account()
        receiver.default("/down", Answer(500))
        await stack.endpoint(auth, receiver.url("/up"))
        await stack.endpoint(auth, receiver.url("/down"), retry_policy="once")
        event = await stack.emit(auth, "room.closed", example("room.closed"))
        await stack.settled(event["id"])

        report = await stack.client.get_workflow_handle(
            automation_workflow_id("tally", event["id"], None), result_type=DeliveryReport
        ).result()

    assert (report.trigger, report.outcome, report.endpoint_id) == (
        "settled",
        "partially_failed",
        None,
    )


OPERATIONAL_RULES = """
[[rules]]
name = "tell-endpoint-disabled"
when = "endpoint_disabled"
emit = "webhook.endpoint.disabled"

[[rules]]
name = "tell-attempts-exhausted"
when = "exhausted"
emit = "webhook.message.attempt.exhausted"

[[rules]]
name = "tell-endpoint-recovered"
when = "recovered"
emit = "webhook.message.attempt.recovered"
"""


async def _operations_endpoint(stack: Stack, auth: dict[str, str], receiver: Receiver) -> None:
    await stack.endpoint(
        auth,
        receiver.url("/ops"),
        event_types=[
            "webhook.endpoint.disabled",
            "webhook.message.attempt.exhausted",
            "webhook.message.attempt.recovered",
        ],
    )


def _operational(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in receiver.received("/ops")]


async def test_exhausted_and_recovered_are_sent_to_endpoints_that_subscribe(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    automations = rules_file(tmp_path, OPERATIONAL_RULES)
    async with await automated_stack(temporal_env, database_url, automations) as stack:
        auth = await stack.account()
        await _operations_endpoint(stack, auth, receiver)
        receiver.script("/flaky", Answer(500))
        flaky = await stack.endpoint(
            auth, receiver.url("/flaky"), event_types=["peer.joined"], retry_policy="once"
        )
        everything = await stack.endpoint(auth, receiver.url("/everything"))
        failed = await stack.emit(auth, "peer.joined", example("peer.joined"))
        await stack.settled(failed["id"])
        recovered = await stack.emit(auth, "peer.joined", example("peer.joined"))
        await stack.settled(recovered["id"])
        await receiver.wait_for("/ops", 2)

    exhausted, back = sorted(_operational(receiver), key=lambda body: body["type"])
    assert exhausted["type"] == "webhook.message.attempt.exhausted"
    assert exhausted["data"] == {
        "event_id": failed["id"],
        "event_type": "peer.joined",
        "endpoint_id": flaky["id"],
        "endpoint_url": receiver.url("/flaky"),
        "attempts": 1,
        "last_status_code": 500,
    }
    assert back["type"] == "webhook.message.attempt.recovered"
    assert (back["data"]["event_id"], back["data"]["endpoint_id"]) == (recovered["id"], flaky["id"])
    # An endpoint that takes every classroom event is not sent operational ones.
    assert {json.loads(r.body)["type"] for r in receiver.received("/everything")} == {"peer.joined"}
    assert everything["event_types"] == []


async def test_a_disabled_endpoint_is_announced_once(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    automations = rules_file(tmp_path, OPERATIONAL_RULES)
    async with await automated_stack(temporal_env, database_url, automations) as stack:
        auth = await stack.account()
        await _operations_endpoint(stack, auth, receiver)
        receiver.default("/gone", Answer(410))
        gone = await stack.endpoint(auth, receiver.url("/gone"), event_types=["room.closed"])
        event = await stack.emit(auth, "room.closed", example("room.closed"))
        await stack.settled(event["id"])
        await receiver.wait_for("/ops", 1)

    (announced,) = _operational(receiver)
    assert announced["type"] == "webhook.endpoint.disabled"
    assert announced["data"] == {
        "endpoint_id": gone["id"],
        "endpoint_url": receiver.url("/gone"),
        "reason": "the endpoint answered 410 Gone",
        "event_id": event["id"],
    }


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[rules]]\nname = "x"\nwhen = "delivered"', "exactly one action"),
        ('[[rules]]\nname = "x"\nwhen = "exploded"\nemit = "webhook.endpoint.disabled"', "when"),
        ('[[rules]]\nname = "x"\nwhen = "delivered"\nemit = "room.created"', "emit"),
        (
            '[[rules]]\nname = "x"\nwhen = "delivered"\nevent_types = ["nope"]\n'
            'emit = "webhook.endpoint.disabled"',
            "unknown event types",
        ),
    ],
)
def test_invalid_automations_are_refused_with_a_clear_message(
    tmp_path: Path, text: str, complaint: str, database_url: str
) -> None:
    with pytest.raises(AutomationError) as refused:
        load_automations(rules_file(tmp_path, text))

    assert complaint in str(refused.value)


def test_the_shipped_automations_announce_operational_events(database_url: str) -> None:
    from core.config import PROJECT_ROOT

    rules = load_automations(PROJECT_ROOT / "automations.toml").for_event_type("room.closed")

    assert {rule.emit for rule in rules} == {
        "webhook.endpoint.disabled",
        "webhook.message.attempt.exhausted",
        "webhook.message.attempt.recovered",
    }
    for starts_nothing in ("webhook.endpoint.disabled", "webhook.test"):
        assert (
            load_automations(PROJECT_ROOT / "automations.toml").for_event_type(starts_nothing) == []
        )


async def test_an_endpoint_disabled_for_failing_too_long_is_announced(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url,
        automations_file=rules_file(tmp_path, OPERATIONAL_RULES),
        auto_disable_after_hours=1 / 3600,  # about a second stands in for five days
    )
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        await _operations_endpoint(stack, auth, receiver)
        receiver.default("/down", Answer(500))
        down = await stack.endpoint(auth, receiver.url("/down"), event_types=["room.closed"])
        event = await stack.emit(auth, "room.closed", example("room.closed"))
        (outcome,) = (await stack.settled(event["id"])).outcomes
        await receiver.wait_for("/ops", 1)

    (announced,) = _operational(receiver)
    assert outcome.status == "failed"
    assert announced["type"] == "webhook.endpoint.disabled"
    assert announced["data"]["endpoint_id"] == down["id"]
    assert "failed too long" in announced["data"]["reason"]
