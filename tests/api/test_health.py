"""Liveness and readiness: the process answers; the store and Temporal answer it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core import store
from devstack import free_port
from tests.conftest import Stack, make_settings


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        yield api


async def test_liveness_answers_200_under_both_names(stack: Stack) -> None:
    for path in ("/healthz", "/health"):
        response = await stack.api.get(path)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_the_store_and_temporal_answer(stack: Stack) -> None:
    response = await stack.api.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"store": "ok", "temporal": "ok"}}


async def test_not_ready_naming_temporal_when_it_does_not_answer(store_url: str) -> None:
    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(make_settings(store_url), temporal=unreachable)

    async with serving(app) as api:
        ready = await api.get("/readyz")
        alive = await api.get("/healthz")

    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["store"] == "ok"
    assert "connect" in body["checks"]["temporal"].lower()
    assert body["detail"].startswith("not ready: temporal: ")
    assert "store" not in body["detail"]
    assert ready.headers["retry-after"] == "5"
    assert alive.status_code == 200


async def test_not_ready_naming_the_store_when_it_does_not_answer(
    temporal_env: WorkflowEnvironment, store_url: str
) -> None:
    app = create_app(make_settings(store_url), temporal=temporal_env.client)
    # The API creates its schema as it starts, so the store goes away after that: its
    # sessions now connect to a port where no database listens.
    gone = store.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")

    async with serving(app) as api:
        app.state.sessions = store.session_factory(gone)
        ready = await api.get("/readyz")
        alive = await api.get("/healthz")
    await gone.dispose()

    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["checks"]["temporal"] == "ok"
    assert "connection refused" in body["checks"]["store"].lower()
    assert body["detail"].startswith("not ready: store: ")
    assert alive.status_code == 200


def test_probes_are_documented_and_metrics_are_not() -> None:
    paths = create_app().openapi()["paths"]

    assert {"/healthz", "/readyz"} <= set(paths)
    assert "/metrics" not in paths
    assert "/health" not in paths
