"""Endpoint lifecycle: nothing sent while disabled is lost, recovery, automatic disabling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from core.contracts import RecoverResult, recovered_event_workflow_id
from core.models import Endpoint
from tests.conftest import Stack, make_settings, running_stack
from tests.events import example
from tests.receiver import Answer, Receiver


async def _recover(
    stack: Stack, auth: dict[str, str], endpoint_id: str, since: datetime
) -> dict[str, Any]:
    response = await stack.api.post(
        f"/v1/endpoints/{endpoint_id}/recover", json={"since": since.isoformat()}, headers=auth
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


async def test_events_for_a_disabled_endpoint_are_skipped_then_recovered_in_order(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/paused"))
    before = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(before["id"])
    since = datetime.now(UTC)
    await stack.api.patch(f"/v1/endpoints/{endpoint['id']}", json={"disabled": True}, headers=auth)
    missed = []
    for n in range(3):
        missed.append(
            await stack.emit(auth, "peer.joined", example("peer.joined", peer_id=f"p{n}"))
        )
        await stack.settled(missed[-1]["id"])
    shown = [(await stack.api.get(f"/v1/events/{e['id']}", headers=auth)).json() for e in missed]
    assert [s["deliveries"][0]["status"] for s in shown] == ["skipped"] * 3
    skipped = await stack.api.get("/v1/events?status=skipped", headers=auth)
    assert {e["id"] for e in skipped.json()["data"]} == {e["id"] for e in missed}

    await stack.api.patch(f"/v1/endpoints/{endpoint['id']}", json={"disabled": False}, headers=auth)
    accepted = await _recover(stack, auth, endpoint["id"], since)
    result: RecoverResult = await stack.client.get_workflow_handle(
        accepted["workflow_id"], result_type=RecoverResult
    ).result()
    for event in missed:
        await stack.client.get_workflow_handle(
            recovered_event_workflow_id(event["id"], endpoint["id"], since)
        ).result()

    assert result.started == 3
    received = [r.headers["webhook-id"] for r in receiver.received("/paused")]
    assert received[0] == before["id"]
    assert sorted(received[1:]) == sorted(e["id"] for e in missed)
    for event in missed:
        (delivery,) = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()[
            "deliveries"
        ]
        assert delivery["status"] == "delivered"


async def test_recover_redelivers_failed_events_and_the_same_request_does_it_once(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/flaky", Answer(500))
    endpoint = await stack.endpoint(auth, receiver.url("/flaky"), retry_policy="once")
    since = datetime.now(UTC) - timedelta(seconds=1)
    event = await stack.emit(auth, "recording.failed", example("recording.failed"))
    assert (await stack.settled(event["id"])).outcomes[0].status == "failed"
    receiver.default("/flaky", Answer(200))

    first = await _recover(stack, auth, endpoint["id"], since)
    await stack.client.get_workflow_handle(first["workflow_id"]).result()
    await stack.client.get_workflow_handle(
        recovered_event_workflow_id(event["id"], endpoint["id"], since)
    ).result()
    again = await _recover(stack, auth, endpoint["id"], since)

    assert again["workflow_id"] == first["workflow_id"]
    assert len(receiver.received("/flaky")) == 2
    (delivery,) = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()[
        "deliveries"
    ]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)


async def test_recovering_a_disabled_endpoint_gets_409(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/off"))
    await stack.api.patch(f"/v1/endpoints/{endpoint['id']}", json={"disabled": True}, headers=auth)

    response = await stack.api.post(
        f"/v1/endpoints/{endpoint['id']}/recover",
        json={"since": datetime.now(UTC).isoformat()},
        headers=auth,
    )

    assert response.status_code == 409


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_endpoint_failing_past_the_window_is_disabled_and_later_events_are_skipped(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver
) -> None:
    # A window of about a second stands in for the default five days.
    settings = make_settings(database_url, auto_disable_after_hours=1 / 3600)
    async with running_stack(temporal_env, settings) as stack:
        auth = await stack.account()
        receiver.default("/down", Answer(500))
        endpoint = await stack.endpoint(auth, receiver.url("/down"))

        event = await stack.emit(auth, "room.closed", example("room.closed"))
        (outcome,) = (await stack.settled(event["id"])).outcomes
        later = await stack.emit(auth, "room.closed", example("room.closed"))
        await stack.settled(later["id"])

        shown = (await stack.api.get(f"/v1/endpoints/{endpoint['id']}", headers=auth)).json()
        assert shown["disabled"] is True
        assert shown["disabled_reason"].startswith("no successful delivery since")
        assert outcome.status == "failed" and outcome.attempts < 5
        (skipped,) = (await stack.api.get(f"/v1/events/{later['id']}", headers=auth)).json()[
            "deliveries"
        ]
        assert skipped["status"] == "skipped"


async def test_a_success_resets_the_failure_window(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    receiver.script("/wobbly", Answer(500))
    endpoint = await stack.endpoint(auth, receiver.url("/wobbly"))

    event = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(event["id"])

    async with stack.sessions() as session:
        stored = await session.get(Endpoint, endpoint["id"])
    assert stored is not None and stored.failing_since is None and stored.disabled_at is None
