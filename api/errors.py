"""Domain failures and the HTTP answers they map to, in one place.

Every error body has one shape: ``{"code": <machine-readable>, "detail": <text or list>}``.
``detail`` is a list of ``{"loc", "msg", "type"}`` entries for validation errors (422) and a
sentence otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from core.catalog import DataError

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_code(status_code: int) -> str:
    return _CODES.get(status_code) or HTTPStatus(status_code).phrase.lower().replace(" ", "_")


def error_response(
    status_code: int,
    detail: Any,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"code": code or error_code(status_code), "detail": jsonable_encoder(detail)},
        headers=headers,
    )


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


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, error.detail, headers=error.headers)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, error.errors())


async def _temporal_unavailable(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("temporal unavailable: %s", error)
    return error_response(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the workflow service (Temporal) is unavailable; the event was not accepted, retry later",
        code="temporal_unavailable",
        headers={"Retry-After": "5"},
    )


async def _store_unavailable(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("store unavailable: %s", error)
    return error_response(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the store is unavailable, nothing was changed; retry shortly",
        code="store_unavailable",
        headers={"Retry-After": "5"},
    )


def _lost_store(error: BaseException | None) -> bool:
    """Whether the store's connection failing is what this error comes down to."""
    while error is not None:
        if isinstance(error, OperationalError | InterfaceError):
            return True
        error = error.__cause__ or error.__context__
    return False


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    if _lost_store(error):
        # e.g. a session that must be rolled back because its connection broke mid-flush.
        return await _store_unavailable(request, error)
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "an unexpected error occurred; it has been logged",
        code="internal_error",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TemporalUnavailableError, _temporal_unavailable)
    # A lost connection surfaces as several DBAPIError kinds depending on when it broke.
    app.add_exception_handler(OperationalError, _store_unavailable)
    app.add_exception_handler(InterfaceError, _store_unavailable)
    # Every pooled connection waited on the store (SQLite's write lock) past the timeout.
    app.add_exception_handler(PoolTimeoutError, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
