"""Schemathesis against the API's own OpenAPI document, over real HTTP: a bounded run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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
