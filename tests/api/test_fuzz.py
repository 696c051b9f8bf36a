"""Schemathesis against the API's own OpenAPI document, over real HTTP: a bounded run."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core import store
from core.retry import load_retry_policies
from tests.conftest import ADMIN_TOKEN, make_settings
from worker import build_worker, delivery_client

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def served_api(temporal_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[str]:
    """The API under uvicorn on a free port, with its own lazily connected Temporal client,
    and a worker, so that test events sent by the fuzzer are answered at once."""
    address = temporal_env.client.service_client.config.target_host
    previous = os.environ.get("TEMPORAL_ADDRESS")
    os.environ["TEMPORAL_ADDRESS"] = address
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = make_settings(database_url)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    engine = store.create_engine(settings.database_url)
    async with (
        delivery_client(settings) as http,
        build_worker(
            temporal_env.client,
            settings=settings,
            sessions=store.session_factory(engine),
            http=http,
            policies=load_retry_policies(settings.retry_policies_file),
        ),
    ):
        yield f"http://127.0.0.1:{port}"
    await engine.dispose()
    server.should_exit = True
    thread.join(timeout=10)
    if previous is None:
        os.environ.pop("TEMPORAL_ADDRESS", None)
    else:
        os.environ["TEMPORAL_ADDRESS"] = previous


async def test_no_operation_answers_5xx_or_off_its_schema(served_api: str) -> None:
    async with httpx.AsyncClient() as client:
        created = await client.post(
            f"{served_api}/v1/accounts",
            json={"name": "Fuzzed"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    api_key = created.json()["api_key"]
    schemathesis = Path(sys.executable).parent / "schemathesis"

    run = await asyncio.create_subprocess_exec(
        str(schemathesis),
        "run",
        f"{served_api}/openapi.json",
        "--header",
        f"Authorization: Bearer {api_key}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        "10",
        "--seed",
        "20261127",
        "--workers",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=600)

    report = output.decode()
    assert run.returncode == 0, report[-6000:]
