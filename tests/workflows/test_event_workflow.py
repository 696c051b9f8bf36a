"""Events emitted through the API reach real receivers through a real Temporal server."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import Stack
from tests.events import example
from tests.receiver import Answer, Receiver


async def test_event_reaches_every_subscribed_endpoint_and_no_other(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    joined = await stack.endpoint(auth, receiver.url("/joined"), event_types=["peer.joined"])
    everything = await stack.endpoint(auth, receiver.url("/all"), event_types=[])
    await stack.endpoint(auth, receiver.url("/closed"), event_types=["room.closed"])
    disabled = await stack.endpoint(auth, receiver.url("/disabled"), event_types=["peer.joined"])
    await stack.api.patch(f"/v1/endpoints/{disabled['id']}", json={"disabled": True}, headers=auth)
    other_account = await stack.account("Other School")
    await stack.endpoint(other_account, receiver.url("/other"), event_types=["peer.joined"])

    data = example("peer.joined")
    event = await stack.emit(auth, "peer.joined", data)
    result = await stack.settled(event["id"])

    assert sorted(outcome.endpoint_id for outcome in result.outcomes) == sorted(
        [joined["id"], everything["id"]]
    )
    assert all(outcome.status == "delivered" for outcome in result.outcomes)
    for path, endpoint in (("/joined", joined), ("/all", everything)):
        (request,) = receiver.received(path)
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert payload == {"type": "peer.joined", "timestamp": event["created_at"], "data": data}
        assert request.headers["webhook-id"] == event["id"]
        assert request.headers["content-type"] == "application/json"
    for path in ("/closed", "/disabled", "/other"):
        assert receiver.received(path) == []


async def test_receiver_failing_twice_then_succeeding_gets_three_attempts_with_one_webhook_id(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    receiver.script("/flaky", Answer(500, body=b"boom"), Answer(502))
    endpoint = await stack.endpoint(auth, receiver.url("/flaky"))

    event = await stack.emit(auth, "room.created", example("room.created"))
    result = await stack.settled(event["id"])

    (outcome,) = result.outcomes
    assert (outcome.status, outcome.attempts, outcome.status_code) == ("delivered", 3, 200)
    requests = receiver.received("/flaky")
    assert len(requests) == 3
    assert {request.headers["webhook-id"] for request in requests} == {event["id"]}
    for request in requests:
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert len({request.body for request in requests}) == 1

    attempts = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()
    summary = [(a["attempt"], a["status_code"], a["outcome"]) for a in attempts["data"]]
    assert summary == [(3, 200, "succeeded"), (2, 502, "failed"), (1, 500, "failed")]
    assert attempts["data"][2]["response_body"] == "boom"
    shown = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()
    (delivery,) = shown["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        3,
        200,
    )
    assert delivery["delivered_at"] is not None


async def test_410_disables_endpoint_and_stops_retrying(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    receiver.default("/gone", Answer(410))
    endpoint = await stack.endpoint(auth, receiver.url("/gone"))

    event = await stack.emit(auth, "room.closed", example("room.closed"))
    (outcome,) = (await stack.settled(event["id"])).outcomes

    assert (outcome.status, outcome.attempts, outcome.status_code) == ("failed", 1, 410)
    assert len(receiver.received("/gone")) == 1
    shown = (await stack.api.get(f"/v1/endpoints/{endpoint['id']}", headers=auth)).json()
    assert shown["disabled"] is True
    assert "410" in shown["disabled_reason"]

    later = await stack.emit(auth, "room.closed", example("room.closed"))
    assert (await stack.settled(later["id"])).outcomes == []
    assert len(receiver.received("/gone")) == 1


async def test_retry_after_on_503_and_429_is_honoured(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    receiver.script(
        "/busy",
        Answer(503, headers={"Retry-After": "2"}),
        Answer(429, headers={"Retry-After": "1"}),
    )
    await stack.endpoint(auth, receiver.url("/busy"))

    event = await stack.emit(auth, "peer.left", example("peer.left"))
    (outcome,) = (await stack.settled(event["id"])).outcomes

    assert (outcome.status, outcome.attempts) == ("delivered", 3)
    first, second, third = (request.at for request in receiver.received("/busy"))
    # The policy alone would retry after 200 ms; the receiver asked for 2 s, then 1 s.
    assert 1.9 <= second - first < 4.0
    assert 0.9 <= third - second < 3.0
    attempts = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()
    for attempt in attempts["data"]:
        # Each attempt records when Temporal scheduled it, which is when it started, give
        # or take a busy machine's dispatch; the first attempt's schedule is 2 s or more away.
        scheduled = datetime.fromisoformat(attempt["scheduled_at"])
        started = datetime.fromisoformat(attempt["started_at"])
        assert abs((started - scheduled).total_seconds()) < 1.5, attempt


async def test_exhausted_retries_mark_the_delivery_failed(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    receiver.default("/down", Answer(500))
    await stack.endpoint(auth, receiver.url("/down"))

    event = await stack.emit(auth, "recording.failed", example("recording.failed"))
    (outcome,) = (await stack.settled(event["id"])).outcomes

    assert (outcome.status, outcome.attempts, outcome.status_code) == ("failed", 5, 500)
    assert len(receiver.received("/down")) == 5
    (delivery,) = (await stack.api.get(f"/v1/events/{event['id']}", headers=auth)).json()[
        "deliveries"
    ]
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == (
        "failed",
        5,
        None,
    )


async def test_connection_refused_is_retried_and_recorded(stack: Stack) -> None:
    auth = await stack.account()
    await stack.endpoint(
        auth, "http://127.0.0.1:9/nothing-listens", retry_policy="quick-exponential"
    )

    event = await stack.emit(auth, "room.created", example("room.created"))
    (outcome,) = (await stack.settled(event["id"])).outcomes

    assert (outcome.status, outcome.attempts, outcome.status_code) == ("failed", 4, None)
    attempts = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()[
        "data"
    ]
    assert len(attempts) == 4
    assert {(a["status_code"], a["error"]) for a in attempts} == {
        (None, "ConnectError: connection refused: nothing accepts connections at that port")
    }


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("hangs up", "ServerDisconnectedError: Server disconnected"),
        ("answers garbage", "the answer is not valid HTTP: Bad status line:"),
        ("stays silent", "timed out: ReadTimeout"),
    ],
)
async def test_a_receiver_that_gives_no_http_answer_is_recorded_as_such(
    stack: Stack, behaviour: str, error: str
) -> None:
    async def answer_badly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if behaviour == "answers garbage":
            writer.write(b"garbage\r\n\r\n")
        elif behaviour == "stays silent":
            await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(answer_badly, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    auth = await stack.account()
    await stack.endpoint(auth, f"http://127.0.0.1:{port}/hook", retry_policy="once")

    async with server:
        event = await stack.emit(auth, "room.created", example("room.created"))
        (outcome,) = (await stack.settled(event["id"])).outcomes

    assert (outcome.status, outcome.attempts, outcome.status_code) == ("failed", 1, None)
    (attempt,) = (await stack.api.get(f"/v1/events/{event['id']}/attempts", headers=auth)).json()[
        "data"
    ]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith(error)


async def test_redirects_are_not_followed(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    receiver.default("/moved", Answer(301, headers={"Location": receiver.url("/target")}))
    await stack.endpoint(auth, receiver.url("/moved"), retry_policy="once")

    event = await stack.emit(auth, "room.created", example("room.created"))
    (outcome,) = (await stack.settled(event["id"])).outcomes

    assert (outcome.status, outcome.status_code) == ("failed", 301)
    assert receiver.received("/target") == []


async def test_body_is_the_event_type_timestamp_and_data(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    await stack.endpoint(auth, receiver.url("/body"))
    data = example("whiteboard.new_file_saved", file_name="Plan d'étude.pdf")

    event = await stack.emit(auth, "whiteboard.new_file_saved", data)
    await stack.settled(event["id"])

    (request,) = receiver.received("/body")
    assert json.loads(request.body) == {
        "type": "whiteboard.new_file_saved",
        "timestamp": event["created_at"],
        "data": data,
    }


async def test_workflow_history_carries_ids_not_secrets_or_payloads(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    endpoint = await stack.endpoint(auth, receiver.url("/quiet"))
    data = example("recording.failed", failure_reason="a very particular reason")

    event = await stack.emit(auth, "recording.failed", data)
    await stack.settled(event["id"])
    history = await stack.client.get_workflow_handle(event["workflow_id"]).fetch_history()

    decoded = "".join(
        payload.data.decode(errors="replace")
        for history_event in history.events
        for payload in _payloads(history_event)
    )
    assert event["id"] in decoded
    assert endpoint["secret"] not in decoded
    assert endpoint["secret"].removeprefix("whsec_") not in decoded
    assert "a very particular reason" not in decoded


def _payloads(history_event: Any) -> list[Any]:
    """Every payload anywhere in one history event."""
    found: list[Any] = []

    def walk(message: Any) -> None:
        for descriptor, value in message.ListFields():
            if descriptor.message_type is None:
                continue
            if hasattr(value, "ListFields"):
                values = [value]
            elif hasattr(value, "values"):
                values = list(value.values())
            else:
                values = list(value)
            for item in values:
                if descriptor.message_type.full_name == "temporal.api.common.v1.Payload":
                    found.append(item)
                elif hasattr(item, "ListFields"):
                    walk(item)

    walk(history_event)
    return found
