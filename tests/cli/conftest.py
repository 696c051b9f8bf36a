"""The API served over real HTTP with a worker, and the command line invoked against it."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from cli.main import app
from core.contracts import event_workflow_id
from tests.conftest import ADMIN_TOKEN


@dataclass
class Operator:
    """An account on the served API, and the command line pointed at it with its key."""

    api_url: str
    api_key: str
    temporal: WorkflowEnvironment
    runner: CliRunner = field(default_factory=CliRunner)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def run(self, *args: str, **env: str | None) -> Result:
        """``webhooks ARGS`` in a thread, so this loop keeps running the worker meanwhile."""
        environment: dict[str, str | None] = {
            "WEBHOOKS_API_URL": self.api_url,
            "WEBHOOKS_API_KEY": self.api_key,
            "COLUMNS": None,
            "NO_COLOR": "1",
        }
        environment.update(env)
        return await asyncio.to_thread(self.runner.invoke, app, list(args), env=environment)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.api_url, headers=self.auth) as http:
            response = await http.post(path, json=body)
        assert response.is_success, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def endpoint(self, url: str, **fields: Any) -> dict[str, Any]:
        return await self.post("/v1/endpoints", {"url": url, **fields})

    async def emit(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.post("/v1/events", {"type": event_type, "data": data})

    async def finished(self, workflow_id: str) -> None:
        """Wait for a workflow the API started to complete."""
        await self.temporal.client.get_workflow_handle(workflow_id).result()

    async def settled(self, event_id: str) -> None:
        """Wait for every delivery of an event to succeed or give up."""
        await self.finished(event_workflow_id(event_id))


@pytest.fixture
async def operator(served_api: str, temporal_env: WorkflowEnvironment) -> Operator:
    async with httpx.AsyncClient(base_url=served_api) as http:
        created = await http.post(
            "/v1/accounts",
            json={"name": "Operated School"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert created.status_code == 201, created.text
    return Operator(api_url=served_api, api_key=created.json()["api_key"], temporal=temporal_env)


def shown(result: Result, label: str) -> str:
    """The value of a ``label: value`` line the command printed."""
    found = re.search(rf"^{re.escape(label)}: (.+)$", result.stdout, re.MULTILINE)
    assert found is not None, result.output
    return found.group(1).strip()


def sections(result: Result) -> tuple[str, str, str]:
    """What ``events show`` printed: the event's facts, its deliveries, its attempts."""
    facts, rest = result.stdout.split("Deliveries", 1)
    deliveries, attempts = rest.split("Attempts (newest first)", 1)
    return facts, deliveries, attempts


def succeeded(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def failed_cleanly(result: Result) -> str:
    """The one error line of a command that failed without a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line
