"""Domain failures and the HTTP answers they map to, in one place."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from core.catalog import DataError

logger = logging.getLogger(__name__)


class TemporalUnavailableError(Exception):
    """Temporal could not be reached, so an event could not be made durable."""


def field_error(
    loc: Sequence[str | int], message: str, kind: str, value: Any = None
) -> RequestValidationError:
    """A 422 pointing at one field, in the same shape as FastAPI's own validation errors."""
    return RequestValidationError(
        [{"type": kind, "loc": tuple(loc), "msg": message, "input": value}]
    )


def data_errors(problems: Sequence[DataError]) -> RequestValidationError:
    """A 422 listing every way an event's data fails its type's schema, field by field."""
    return RequestValidationError(
        [
            {
                "type": f"data.{problem.kind}",
                "loc": ("body", "data", *problem.path),
                "msg": problem.message,
                "input": None,
            }
            for problem in problems
        ]
    )


async def _temporal_unavailable(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("temporal unavailable: %s", error)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={
            "detail": "the workflow service (Temporal) is unavailable; the event was not accepted, "
            "retry later"
        },
        headers={"Retry-After": "5"},
    )


async def _store_unavailable(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("store unavailable: %s", error)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "the store is unavailable, nothing was changed; retry shortly"},
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TemporalUnavailableError, _temporal_unavailable)
    app.add_exception_handler(OperationalError, _store_unavailable)
