"""Probes for whoever runs the API: is the process up, and can it do its work right now."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SessionDep, TemporalDep

router = APIRouter(tags=["health"])

# Short enough for an orchestrator's probe to get an answer before it gives up on us.
CHECK_TIMEOUT = timedelta(seconds=2)
OK = "ok"


@router.get("/healthz", summary="Liveness: the API process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """The liveness probe's earlier name."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the store and Temporal both answer",
    responses={503: {"description": "The store or Temporal does not answer; `checks` says which"}},
)
async def readyz(session: SessionDep, temporal: TemporalDep) -> Any:
    async def store_answers() -> None:
        connection = await session.connection()
        await connection.execute(text("SELECT 1"))

    async def temporal_answers() -> None:
        if not await temporal.service_client.check_health(timeout=CHECK_TIMEOUT):
            raise RuntimeError("the workflow service is not serving")

    store, workflows = await asyncio.gather(_check(store_answers()), _check(temporal_answers()))
    checks = {"store": store, "temporal": workflows}
    if all(result == OK for result in checks.values()):
        return {"status": "ready", "checks": checks}
    failed = "; ".join(f"{name}: {result}" for name, result in checks.items() if result != OK)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"code": "not_ready", "detail": f"not ready: {failed}", "checks": checks},
        headers={"Retry-After": "5"},
    )


async def _check(answers: Awaitable[None]) -> str:
    """``"ok"``, or why the dependency did not answer within the check's time."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT.total_seconds()):
            await answers
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT.total_seconds():g} s"
    except Exception as error:
        return (str(error) or type(error).__name__)[:500]
    return OK
