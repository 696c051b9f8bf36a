"""The archive example, chained by its own rules file, against the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import PROJECT_ROOT
from core.contracts import automation_workflow_id
from examples.archive.worker import build_archive_worker
from tests.conftest import make_settings, running_stack
from tests.events import example
from tests.receiver import Receiver


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_delivered_recording_is_archived_once(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    archive = tmp_path / "archive.jsonl"
    settings = make_settings(
        database_url, automations_file=PROJECT_ROOT / "examples/archive/automations.toml"
    )
    async with (
        build_archive_worker(temporal_env.client, archive),
        running_stack(temporal_env, settings) as stack,
    ):
        auth = await stack.account()
        endpoint = await stack.endpoint(auth, receiver.url("/lms"))
        event = await stack.emit(auth, "recording.processed", example("recording.processed"))
        await stack.settled(event["id"])
        chained = stack.client.get_workflow_handle(
            automation_workflow_id("archive-recording", event["id"], endpoint["id"])
        )
        result = await chained.result()
        resent = await stack.api.post(
            f"/v1/events/{event['id']}/resend", json={"endpoint_id": endpoint["id"]}, headers=auth
        )
        await stack.client.get_workflow_handle(resent.json()["workflow_id"]).result()
        other = await stack.emit(auth, "room.created", example("room.created"))
        await stack.settled(other["id"])

    assert result == f"archived {event['id']}"
    (line,) = archive.read_text().splitlines()
    assert json.loads(line) == {
        "event_id": event["id"],
        "endpoint_id": endpoint["id"],
        "endpoint_url": receiver.url("/lms"),
        "attempts": 1,
    }
