"""The HTTP API as the command line uses it: one method per call, errors as ``CliError``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from cli.errors import ApiError, CliError

Json = dict[str, Any]

DEFAULT_API_URL = "http://127.0.0.1:8000"
PAGE_SIZE_MAX = 200


def _segment(value: str) -> str:
    """An id as one path segment, whatever it contains."""
    return quote(value, safe="")


def _describe_detail(detail: Any) -> str:
    """The API's ``detail``: a sentence, or a list of ``{"loc", "msg", "type"}`` entries."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, dict):
                loc = ".".join(str(part) for part in entry.get("loc", []))
                message = str(entry.get("msg", ""))
                parts.append(f"{loc}: {message}" if loc else message)
            else:
                parts.append(str(entry))
        return "; ".join(parts)
    return str(detail)


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return ApiError(response.status_code, str(body["code"]), _describe_detail(body["detail"]))
    text = " ".join(response.text.split())[:200] or response.reason_phrase
    return ApiError(response.status_code, f"http_{response.status_code}", text)


class ApiClient:
    """A synchronous client for the ``/v1`` API with one account's key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
                timeout=timeout,
                transport=transport,
            )
        except (httpx.InvalidURL, ValueError) as error:
            raise CliError(f"invalid API URL {base_url!r}: {error}") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    # ------------------------------------------------------------ transport

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Json | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.ConnectError:
            raise CliError(
                f"the API is not reachable at {self.base_url}; is it running? "
                "(`make run` starts it; --api-url or WEBHOOKS_API_URL points elsewhere)"
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"the API at {self.base_url} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise CliError(f"request to {self.base_url}{path} failed: {error}") from None
        if response.is_error:
            raise _api_error(response)
        return response

    def _json(
        self,
        method: str,
        path: str,
        *,
        json: Json | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Json:
        response = self._send(method, path, json=json, params=params, headers=headers)
        return self._object(response)

    @staticmethod
    def _object(response: httpx.Response) -> Json:
        try:
            body = response.json()
        except ValueError:
            raise CliError(
                f"the API answered {response.status_code} with a body that is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise CliError(f"the API answered {response.status_code} with unexpected JSON")
        return body

    # ------------------------------------------------------------ events

    def emit(
        self, event_type: str, data: Json, *, idempotency_key: str | None = None
    ) -> tuple[Json, bool]:
        """Emit an event; return it and whether it is a replay of an earlier emit."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self._send(
            "POST", "/v1/events", json={"type": event_type, "data": data}, headers=headers
        )
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return self._object(response), replayed

    def list_events(
        self,
        *,
        event_type: str | None = None,
        status: str | None = None,
        endpoint_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        resolved: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Json:
        """One page of events, newest first, with its ``next_cursor``."""
        params: dict[str, str | int] = {"limit": limit}
        for name, value in (
            ("type", event_type),
            ("status", status),
            ("endpoint_id", endpoint_id),
            ("since", since.isoformat() if since else None),
            ("until", until.isoformat() if until else None),
            ("resolved", None if resolved is None else str(resolved).lower()),
            ("cursor", cursor),
        ):
            if value is not None:
                params[name] = value
        return self._json("GET", "/v1/events", params=params)

    def event_pages(self, *, cursor: str | None = None, **filters: Any) -> Iterator[Json]:
        """Every page of events from ``cursor`` on, following ``next_cursor``."""
        while True:
            page = self.list_events(cursor=cursor, **filters)
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def get_event(self, event_id: str) -> Json:
        return self._json("GET", f"/v1/events/{_segment(event_id)}")

    def event_attempts(self, event_id: str) -> list[Json]:
        """All of the event's attempts, newest first."""
        attempts: list[Json] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": PAGE_SIZE_MAX}
            if cursor:
                params["cursor"] = cursor
            page = self._json("GET", f"/v1/events/{_segment(event_id)}/attempts", params=params)
            attempts.extend(page.get("data", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return attempts

    def resend(self, event_id: str, endpoint_id: str) -> Json:
        return self._json(
            "POST", f"/v1/events/{_segment(event_id)}/resend", json={"endpoint_id": endpoint_id}
        )

    # ------------------------------------------------------------ endpoints

    def list_endpoints(self) -> Json:
        return self._json("GET", "/v1/endpoints")

    def set_endpoint_disabled(self, endpoint_id: str, disabled: bool) -> Json:
        return self._json(
            "PATCH", f"/v1/endpoints/{_segment(endpoint_id)}", json={"disabled": disabled}
        )

    def recover_endpoint(self, endpoint_id: str, since: datetime) -> Json:
        return self._json(
            "POST",
            f"/v1/endpoints/{_segment(endpoint_id)}/recover",
            json={"since": since.isoformat()},
        )
