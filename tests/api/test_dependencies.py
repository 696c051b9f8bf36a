"""Requests resolve their dependencies on the event loop, not on FastAPI's thread pool."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.concurrency import run_in_threadpool

from tests.conftest import Stack
from tests.events import example
from tests.receiver import Receiver


async def test_no_dependency_of_an_emit_or_its_neighbours_runs_on_a_thread(
    stack: Stack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_threads: list[str] = []

    async def recorded(call: Any, *args: Any, **kwargs: Any) -> Any:
        on_threads.append(getattr(call, "__qualname__", repr(call)))
        return await run_in_threadpool(call, *args, **kwargs)

    # Where FastAPI sends a dependency that is a plain function.
    monkeypatch.setattr("fastapi.dependencies.utils.run_in_threadpool", recorded)

    auth = await stack.account()
    await stack.endpoint(auth, receiver.url("/deps"))
    event = await stack.emit(auth, "room.created", example("room.created"))
    listed = await stack.api.get("/v1/events", headers=auth)
    shown = await stack.api.get(f"/v1/events/{event['id']}", headers=auth)

    assert (listed.status_code, shown.status_code) == (200, 200)
    assert on_threads == []
