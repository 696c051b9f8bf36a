"""``webhooks`` against the API served over real HTTP, a real worker and a real receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack import free_port
from tests.cli.conftest import Operator, failed_cleanly, sections, shown, succeeded
from tests.conftest import waiting_to_retry
from tests.events import example
from tests.receiver import Answer, Receiver
from workflows.event import EventWorkflow

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_an_emitted_event_is_listed_and_shown_with_its_delivery_and_attempt(
    operator: Operator, receiver: Receiver
) -> None:
    endpoint = await operator.endpoint(receiver.url("/hook"), event_types=["room.created"])
    data = example("room.created")

    emitted = succeeded(await operator.run("emit", "room.created", "--data", json.dumps(data)))

    event_id = shown(emitted, "event")
    assert shown(emitted, "workflow") == f"event-{event_id}"
    assert shown(emitted, "workflow url").endswith(f"/workflows/event-{event_id}")
    (request,) = await receiver.wait_for("/hook", 1)
    assert request.headers["webhook-id"] == event_id
    await operator.settled(event_id)

    listed = succeeded(await operator.run("events", "list"))
    (row,) = [line for line in listed.stdout.splitlines() if event_id in line]
    assert "room.created" in row
    assert "1 delivered" in row

    details = succeeded(await operator.run("events", "show", event_id))
    facts, deliveries, attempts = sections(details)
    assert f"event-{event_id}" in facts
    assert f"/workflows/event-{event_id}" in facts
    assert '"room_name"' in facts
    (delivery,) = [line for line in deliveries.splitlines() if endpoint["id"] in line]
    assert "delivered" in delivery
    assert " 200 " in delivery
    (attempt,) = [line for line in attempts.splitlines() if endpoint["id"] in line]
    assert "succeeded" in attempt
    assert " 200 " in attempt

    raw = json.loads(succeeded(await operator.run("events", "show", event_id, "--json")).stdout)
    assert raw["event"]["id"] == event_id
    assert raw["event"]["data"] == data
    assert [d["status"] for d in raw["event"]["deliveries"]] == ["delivered"]
    assert [(a["attempt"], a["status_code"]) for a in raw["attempts"]] == [(1, 200)]


async def test_events_list_summarises_the_deliveries_of_each_event_per_state(
    operator: Operator, receiver: Receiver
) -> None:
    receiver.default("/broken", Answer(500, body=b"receiver [down]"))
    await operator.endpoint(receiver.url("/ok"))
    await operator.endpoint(receiver.url("/also-ok"))
    broken = await operator.endpoint(receiver.url("/broken"), retry_policy="once")
    event = await operator.emit("peer.joined", example("peer.joined"))
    await operator.settled(event["id"])

    listed = succeeded(await operator.run("events", "list", "--type", "peer.joined"))
    failing = succeeded(await operator.run("events", "list", "--status", "failed", "--json"))
    to_broken = succeeded(await operator.run("events", "list", "--endpoint", broken["id"]))
    waiting = succeeded(await operator.run("events", "list", "--waiting", "--json"))
    _, deliveries, attempts = sections(succeeded(await operator.run("events", "show", event["id"])))

    (row,) = [line for line in listed.stdout.splitlines() if event["id"] in line]
    assert "2 delivered, 1 failed" in row
    assert [e["id"] for e in json.loads(failing.stdout)["data"]] == [event["id"]]
    # Its worker found its endpoints before it settled.
    assert json.loads(waiting.stdout)["data"] == []
    assert event["id"] in to_broken.stdout
    (delivery,) = [line for line in deliveries.splitlines() if broken["id"] in line]
    assert "failed" in delivery
    assert " 500 " in delivery
    (attempt,) = [line for line in attempts.splitlines() if broken["id"] in line]
    assert "failed" in attempt
    assert "receiver [down]" in attempt


async def test_emit_reads_data_from_a_file_and_replays_a_repeated_idempotency_key(
    operator: Operator, tmp_path: Path
) -> None:
    data_file = tmp_path / "event.json"
    data_file.write_text(json.dumps(example("room.closed")))
    emit = ("emit", "room.closed", "--data", f"@{data_file}", "--idempotency-key", "close-1")

    first = succeeded(await operator.run(*emit))
    again = succeeded(await operator.run(*emit))

    assert shown(first, "event") == shown(again, "event")
    assert "nothing new was started" not in first.output
    assert "nothing new was started" in again.stderr
    raw = json.loads(
        succeeded(await operator.run("events", "show", shown(first, "event"), "--json")).stdout
    )
    assert raw["event"]["data"] == example("room.closed")
    assert raw["event"]["idempotency_key"] == "close-1"


async def test_events_list_pages_by_limit_and_follows_every_cursor_with_all(
    operator: Operator,
) -> None:
    emitted = [
        (await operator.emit("room.created", example("room.created")))["id"] for _ in range(3)
    ]

    first_page = succeeded(await operator.run("events", "list", "--limit", "2"))
    every_page = succeeded(await operator.run("events", "list", "--limit", "2", "--all", "--json"))

    newest_first = list(reversed(emitted))
    assert [id_ for id_ in newest_first if id_ in first_page.stdout] == newest_first[:2]
    assert "--all" in first_page.stderr
    assert [e["id"] for e in json.loads(every_page.stdout)["data"]] == newest_first
    assert json.loads(every_page.stdout)["next_cursor"] is None


async def test_events_list_filters_by_time_and_refuses_a_time_that_is_not_iso(
    operator: Operator,
) -> None:
    event = await operator.emit("room.created", example("room.created"))
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    none_since = succeeded(await operator.run("events", "list", "--since", later, "--json"))
    some_since = succeeded(await operator.run("events", "list", "--since", earlier, "--json"))
    bad = await operator.run("events", "list", "--since", "last tuesday")

    assert json.loads(none_since.stdout)["data"] == []
    assert [e["id"] for e in json.loads(some_since.stdout)["data"]] == [event["id"]]
    assert bad.exit_code == 2
    assert "not an ISO 8601 time" in bad.output
    assert "Traceback" not in bad.output


async def test_endpoints_are_listed_disabled_and_enabled_again(
    operator: Operator, receiver: Receiver
) -> None:
    everything = await operator.endpoint(receiver.url("/all"))
    some = await operator.endpoint(receiver.url("/some"), event_types=["peer.joined", "peer.left"])

    listed = succeeded(await operator.run("endpoints", "list"))
    disabled = succeeded(await operator.run("endpoints", "disable", some["id"]))
    after_disable = succeeded(await operator.run("endpoints", "list", "--json"))
    shown_disabled = succeeded(await operator.run("endpoints", "list"))
    enabled = succeeded(await operator.run("endpoints", "enable", some["id"]))
    after_enable = succeeded(await operator.run("endpoints", "list", "--json"))

    rows = {
        endpoint["id"]: line
        for endpoint in (everything, some)
        for line in listed.stdout.splitlines()
        if endpoint["id"] in line
    }
    assert receiver.url("/all") in rows[everything["id"]]
    assert " all " in rows[everything["id"]]
    assert "peer.joined, peer.left" in rows[some["id"]]
    assert all("enabled" in row for row in rows.values())
    assert shown(disabled, "status").startswith("disabled")
    assert {e["id"]: e["disabled"] for e in json.loads(after_disable.stdout)["data"]} == {
        everything["id"]: False,
        some["id"]: True,
    }
    (row,) = [line for line in shown_disabled.stdout.splitlines() if some["id"] in line]
    assert "disabled" in row
    assert shown(enabled, "status") == "enabled"
    assert not any(e["disabled"] for e in json.loads(after_enable.stdout)["data"])


async def test_endpoints_list_shows_the_success_rate_of_the_last_day(
    operator: Operator, receiver: Receiver
) -> None:
    receiver.script("/flaky", Answer(500))
    endpoint = await operator.endpoint(receiver.url("/flaky"))
    event = await operator.emit("room.created", example("room.created"))
    await operator.settled(event["id"])

    listed = succeeded(await operator.run("endpoints", "list"))

    (row,) = [line for line in listed.stdout.splitlines() if endpoint["id"] in line]
    assert "50.0% of 2" in row


async def test_resend_delivers_the_event_again_with_the_same_webhook_id(
    operator: Operator, receiver: Receiver
) -> None:
    endpoint = await operator.endpoint(receiver.url("/again"))
    event = await operator.emit("recording.processed", example("recording.processed"))
    await operator.settled(event["id"])

    resent = succeeded(await operator.run("resend", event["id"], "--endpoint", endpoint["id"]))

    workflow_id = shown(resent, "workflow")
    assert workflow_id == f"event-{event['id']}-resend-{endpoint['id']}"
    assert shown(resent, "endpoint") == endpoint["id"]
    await operator.finished(workflow_id)
    first, second = await receiver.wait_for("/again", 2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event["id"]
    assert first.body == second.body


async def test_resend_says_when_it_replaced_a_resend_waiting_to_retry(
    operator: Operator, receiver: Receiver
) -> None:
    receiver.default("/later", Answer(500))
    endpoint = await operator.endpoint(receiver.url("/later"), retry_policy="patient")
    event = await operator.emit("room.closed", example("room.closed"))
    await receiver.wait_for("/later", 1)
    resend = ("resend", event["id"], "--endpoint", endpoint["id"])
    first = succeeded(await operator.run(*resend))
    await waiting_to_retry(
        operator.temporal.client.get_workflow_handle_for(
            EventWorkflow.run, shown(first, "workflow")
        )
    )

    second = succeeded(await operator.run(*resend))

    said = " ".join(second.stderr.split())
    assert "was waiting to retry: it was stopped, and this one sends now" in said
    await receiver.wait_for("/later", 3)


async def test_endpoints_recover_delivers_what_a_disabled_endpoint_skipped(
    operator: Operator, receiver: Receiver
) -> None:
    endpoint = await operator.endpoint(receiver.url("/recovered"))
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    succeeded(await operator.run("endpoints", "disable", endpoint["id"]))
    event = await operator.emit("room.created", example("room.created"))
    await operator.settled(event["id"])
    skipped = succeeded(await operator.run("events", "list"))
    succeeded(await operator.run("endpoints", "enable", endpoint["id"]))

    recovered = succeeded(
        await operator.run("endpoints", "recover", endpoint["id"], "--since", since.isoformat())
    )

    (row,) = [line for line in skipped.stdout.splitlines() if event["id"] in line]
    assert "1 skipped" in row
    assert receiver.received("/recovered") == []
    assert shown(recovered, "endpoint") == endpoint["id"]
    assert shown(recovered, "since") == since.strftime("%Y-%m-%d %H:%M:%SZ")
    workflow_id = shown(recovered, "workflow")
    assert shown(recovered, "workflow url").endswith(workflow_id)
    await operator.finished(workflow_id)
    (request,) = await receiver.wait_for("/recovered", 1)
    assert request.headers["webhook-id"] == event["id"]


async def test_a_wrong_api_key_exits_non_zero_with_the_401_and_no_traceback(
    operator: Operator,
) -> None:
    result = await operator.run("events", "list", WEBHOOKS_API_KEY="not-a-key")

    assert failed_cleanly(result) == (
        "error: 401 unauthorized: invalid API key (check --api-key or WEBHOOKS_API_KEY)"
    )


async def test_a_missing_api_key_is_reported_before_any_request(operator: Operator) -> None:
    result = await operator.run("endpoints", "list", WEBHOOKS_API_KEY=None)

    assert failed_cleanly(result) == "error: no API key: pass --api-key or set WEBHOOKS_API_KEY"


async def test_an_unknown_event_is_reported_with_the_api_code_and_detail(
    operator: Operator,
) -> None:
    result = await operator.run("events", "show", "msg_nothing")

    assert failed_cleanly(result) == "error: 404 not_found: event msg_nothing not found"


async def test_an_unreachable_api_exits_non_zero_suggesting_make_run(operator: Operator) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = await operator.run("--api-url", url, "events", "list")

    line = failed_cleanly(result)
    assert f"the API is not reachable at {url}" in line
    assert "make run" in line


async def test_invalid_data_json_exits_non_zero_and_emits_nothing(operator: Operator) -> None:
    result = await operator.run("emit", "room.created", "--data", '{"room_id": ')

    assert failed_cleanly(result).startswith("error: --data is not valid JSON: ")
    listed = succeeded(await operator.run("events", "list", "--json"))
    assert json.loads(listed.stdout)["data"] == []


async def test_data_that_is_not_an_object_or_not_readable_exits_non_zero(
    operator: Operator, tmp_path: Path
) -> None:
    not_object = await operator.run("emit", "room.created", "--data", "[1, 2]")
    missing = await operator.run("emit", "room.created", "--data", f"@{tmp_path / 'nope.json'}")

    assert failed_cleanly(not_object) == "error: --data must be a JSON object, not list"
    assert failed_cleanly(missing).startswith("error: cannot read --data file ")


async def test_data_off_its_schema_shows_each_failing_field(operator: Operator) -> None:
    data = example("room.created")
    del data["room_id"]

    result = await operator.run("emit", "room.created", "--data", json.dumps(data))

    line = failed_cleanly(result)
    assert line.startswith("error: 422 validation_error: body.data")
    assert "room_id" in line
