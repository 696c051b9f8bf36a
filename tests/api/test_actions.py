"""Sending a test event, resending an event, and an endpoint's recent success rate."""

from __future__ import annotations

import asyncio

import httpx
from standardwebhooks.webhooks import Webhook
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from core.contracts import EventWorkflowResult
from tests.conftest import Stack, waiting_to_retry
from tests.events import example
from tests.receiver import Answer, Receiver
from workflows.event import EventWorkflow


async def test_test_event_goes_to_that_endpoint_alone_and_returns_its_outcome(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/tested"), event_types=["room.closed"])
    await stack.endpoint(auth, receiver.url("/bystander"))
    receiver.script("/tested", Answer(202, body=b"thanks"))

    response = await stack.api.post(f"/v1/endpoints/{endpoint['id']}/test", headers=auth)

    assert response.status_code == 200, response.text
    outcome = response.json()
    assert (outcome["status"], outcome["status_code"], outcome["response_body"]) == (
        "delivered",
        202,
        "thanks",
    )
    assert outcome["duration_ms"] >= 0
    (request,) = receiver.received("/tested")
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "webhook.test"
    assert request.headers["webhook-id"] == outcome["event_id"]
    assert receiver.received("/bystander") == []


async def test_failed_test_event_is_tried_once_and_reports_the_failure(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/broken"))
    receiver.default("/broken", Answer(500, body=b"stack trace"))

    outcome = (await stack.api.post(f"/v1/endpoints/{endpoint['id']}/test", headers=auth)).json()

    assert (outcome["status"], outcome["status_code"], outcome["response_body"]) == (
        "failed",
        500,
        "stack trace",
    )
    assert len(receiver.received("/broken")) == 1


async def test_testing_a_disabled_endpoint_gets_409(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/off"))
    await stack.api.patch(f"/v1/endpoints/{endpoint['id']}", json={"disabled": True}, headers=auth)

    response = await stack.api.post(f"/v1/endpoints/{endpoint['id']}/test", headers=auth)

    assert response.status_code == 409
    assert receiver.received("/off") == []


async def test_resend_delivers_again_with_the_same_webhook_id_and_new_attempts(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/again", Answer(500))
    endpoint = await stack.endpoint(auth, receiver.url("/again"), retry_policy="once")
    event = await stack.emit(auth, "recording.processed", example("recording.processed"))
    (failed,) = (await stack.settled(event["id"])).outcomes
    assert failed.status == "failed"
    receiver.default("/again", Answer(200))

    response = await stack.api.post(
        f"/v1/events/{event['id']}/resend", json={"endpoint_id": endpoint["id"]}, headers=auth
    )

    assert response.status_code == 202, response.text
    resent = response.json()
    assert resent["workflow_id"] == f"event-{event['id']}-resend-{endpoint['id']}"
    handle = stack.client.get_workflow_handle(resent["workflow_id"])
    await handle.result()
    requests = receiver.received("/again")
    assert [r.headers["webhook-id"] for r in requests] == [event["id"], event["id"]]
    assert requests[0].body == requests[1].body
    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()
    (delivery,) = shown["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        2,
        200,
    )
    attempts = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()
    assert [(a["attempt"], a["status_code"]) for a in attempts["data"]] == [(2, 200), (1, 500)]


async def test_a_resend_that_delivers_ends_the_retries_still_scheduled_for_the_event(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/mended", Answer(500))
    # A second attempt 3 s after the first fails: time enough to resend in between.
    endpoint = await stack.endpoint(auth, receiver.url("/mended"), retry_policy="steady")
    event = await stack.emit(auth, "room.closed", example("room.closed"))
    async with asyncio.timeout(10):
        while not receiver.received("/mended"):
            await asyncio.sleep(0.02)

    receiver.default("/mended", Answer(200))
    resent = await stack.api.post(
        f"/v1/events/{event['id']}/resend", json={"endpoint_id": endpoint["id"]}, headers=auth
    )
    await stack.client.get_workflow_handle(resent.json()["workflow_id"]).result()
    # Were the event's own retry to go out now, it would fail and undo the delivery.
    receiver.default("/mended", Answer(500))
    (outcome,) = (await stack.settled(event["id"])).outcomes

    assert len(receiver.received("/mended")) == 2  # the first attempt and the resend
    assert (outcome.status, outcome.attempts, outcome.status_code) == ("delivered", 2, 200)
    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()
    (delivery,) = shown["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    attempts = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()
    assert [(a["attempt"], a["status_code"]) for a in attempts["data"]] == [(2, 200), (1, 500)]


async def test_resend_while_one_is_running_reuses_it(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/slow"))
    event = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(event["id"])
    receiver.default("/slow", Answer(200, delay=1.0))
    body = {"endpoint_id": endpoint["id"]}

    first = await stack.api.post(f"/v1/events/{event['id']}/resend", json=body, headers=auth)
    second = await stack.api.post(f"/v1/events/{event['id']}/resend", json=body, headers=auth)
    await stack.client.get_workflow_handle(first.json()["workflow_id"]).result()

    assert first.json()["workflow_id"] == second.json()["workflow_id"]
    assert (first.json()["already_running"], second.json()["already_running"]) == (False, True)
    assert len(receiver.received("/slow")) == 2  # the original and one resend
    again = await stack.api.post(f"/v1/events/{event['id']}/resend", json=body, headers=auth)
    await stack.client.get_workflow_handle(again.json()["workflow_id"]).result()
    assert again.json()["already_running"] is False
    assert len(receiver.received("/slow")) == 3  # a resend once the last one finished


async def test_resend_while_one_waits_to_retry_replaces_it_and_sends_now(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.default("/back", Answer(500))
    # A second attempt a minute after the first fails.
    endpoint = await stack.endpoint(auth, receiver.url("/back"), retry_policy="patient")
    event = await stack.emit(auth, "room.created", example("room.created"))
    await receiver.wait_for("/back", 1)
    body = {"endpoint_id": endpoint["id"]}
    first = await stack.api.post(f"/v1/events/{event['id']}/resend", json=body, headers=auth)
    waiting: WorkflowHandle[EventWorkflow, EventWorkflowResult] = stack.client.get_workflow_handle(
        first.json()["workflow_id"]
    )
    await waiting_to_retry(waiting)
    waiting_run = (await waiting.describe()).run_id
    receiver.default("/back", Answer(200))

    second = await stack.api.post(f"/v1/events/{event['id']}/resend", json=body, headers=auth)

    assert second.status_code == 202, second.text
    assert (second.json()["already_running"], second.json()["replaced"]) == (False, True)
    assert second.json()["workflow_id"] == first.json()["workflow_id"]
    await stack.client.get_workflow_handle(second.json()["workflow_id"]).result()
    # The event's own first attempt, the first resend's, and the one sent now.
    assert len(receiver.received("/back")) == 3
    stopped = stack.client.get_workflow_handle(first.json()["workflow_id"], run_id=waiting_run)
    assert (await stopped.describe()).status == WorkflowExecutionStatus.TERMINATED
    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()
    assert [d["status"] for d in shown["deliveries"]] == ["delivered"]


async def test_resend_to_an_unknown_or_foreign_endpoint_is_refused(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    other = await stack.account("Other")
    foreign = await stack.endpoint(other, receiver.url("/foreign"))
    event = await stack.emit(auth, "room.created", example("room.created"))

    unknown = await stack.api.post(
        f"/v1/events/{event['id']}/resend", json={"endpoint_id": "ep_nope"}, headers=auth
    )
    theirs = await stack.api.post(
        f"/v1/events/{event['id']}/resend", json={"endpoint_id": foreign["id"]}, headers=auth
    )

    assert unknown.status_code == theirs.status_code == 422
    assert receiver.received("/foreign") == []


async def test_endpoints_show_the_last_24_hours_success_rate(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.script("/half", Answer(500))
    endpoint = await stack.endpoint(auth, receiver.url("/half"))
    idle = await stack.endpoint(auth, receiver.url("/idle"), event_types=["peer.left"])
    event = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(event["id"])

    listed = (await stack.api.get("/v1/endpoints", headers=auth)).json()["data"]
    by_id = {item["id"]: item for item in listed}
    one = (await stack.api.get(f"/v1/endpoints/{endpoint['id']}", headers=auth)).json()

    assert (by_id[endpoint["id"]]["attempts_24h"], by_id[endpoint["id"]]["success_rate_24h"]) == (
        2,
        0.5,
    )
    assert (one["attempts_24h"], one["success_rate_24h"]) == (2, 0.5)
    patched = await stack.api.patch(
        f"/v1/endpoints/{endpoint['id']}", json={"description": "renamed"}, headers=auth
    )
    rotated = await stack.api.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret", headers=auth)
    for changed in (patched.json(), rotated.json()):
        assert (changed["attempts_24h"], changed["success_rate_24h"]) == (2, 0.5)
    assert (by_id[idle["id"]]["attempts_24h"], by_id[idle["id"]]["success_rate_24h"]) == (0, None)


async def test_event_links_to_its_workflow_in_the_temporal_ui(stack: Stack) -> None:
    auth = await stack.account()
    event = await stack.emit(auth, "room.created", example("room.created"))

    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()

    assert shown["workflow_url"] == (
        f"http://127.0.0.1:8233/namespaces/default/workflows/event-{event['id']}"
    )


async def test_attempts_and_deliveries_keep_the_url_after_the_endpoint_moves_or_goes(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/before"))
    event = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(event["id"])
    path = f"/v1/endpoints/{endpoint['id']}"
    moved = await stack.api.patch(path, json={"url": receiver.url("/after")}, headers=auth)
    assert moved.status_code == 200, moved.text
    later = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(later["id"])

    async def deliveries_go_to() -> list[str | None]:
        listed = (await stack.api.get("/v1/events", headers=auth)).json()["data"]
        return [d["endpoint_url"] for event in listed for d in event["deliveries"]]

    # While the endpoint exists, its deliveries go where it is now.
    assert await deliveries_go_to() == [receiver.url("/after")] * 2
    assert (await stack.api.delete(path, headers=auth)).status_code == 204
    # Once it is gone, each goes where its last attempt went: newest event first.
    assert await deliveries_go_to() == [receiver.url("/after"), receiver.url("/before")]
    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()
    assert [d["endpoint_url"] for d in shown["deliveries"]] == [receiver.url("/before")]

    def sent_to(answer: httpx.Response) -> list[str]:
        return [attempt["url"] for attempt in answer.json()["data"]]

    first = await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)
    second = await stack.api.get(f"/v1/events/{later['id']}/attempts", headers=auth)
    assert (sent_to(first), sent_to(second)) == (
        [receiver.url("/before")],
        [receiver.url("/after")],
    )
