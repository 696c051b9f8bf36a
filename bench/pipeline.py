"""The pipeline from outside, through its HTTP API: accounts, endpoints, emits, attempts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bench.driver import Send, Sent
from bench.receiver_control import PathSetup, ReceiverControl
from core.catalog import find_event_type

EVENT_TYPE = "room.created"


def event_data() -> dict[str, Any]:
    found = find_event_type(EVENT_TYPE)
    assert found is not None
    return dict(found.example)


@dataclass(frozen=True)
class Endpoint:
    id: str
    path: str
    url: str
    secret: str


@dataclass(frozen=True)
class Tenant:
    """An account and its endpoints, each a distinct path on the receiver."""

    name: str
    api_key: str
    endpoints: list[Endpoint]

    @property
    def paths(self) -> list[str]:
        return [endpoint.path for endpoint in self.endpoints]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class PipelineApi:
    def __init__(self, http: httpx.AsyncClient, *, admin_token: str) -> None:
        self._http = http
        self._admin = {"Authorization": f"Bearer {admin_token}"}

    async def tenant(
        self,
        name: str,
        receiver: ReceiverControl,
        paths: list[str],
        *,
        retry_policy: str | None = None,
        fail_first: int = 0,
        record_attempts: bool = False,
    ) -> Tenant:
        """A new account with one endpoint per path, each registered with the receiver."""
        response = await self._http.post("/v1/accounts", json={"name": name}, headers=self._admin)
        response.raise_for_status()
        api_key: str = response.json()["api_key"]
        auth = {"Authorization": f"Bearer {api_key}"}
        endpoints: list[Endpoint] = []
        for path in paths:
            body: dict[str, Any] = {"url": receiver.url(path), "event_types": [EVENT_TYPE]}
            if retry_policy is not None:
                body["retry_policy"] = retry_policy
            created = await self._http.post("/v1/endpoints", json=body, headers=auth)
            created.raise_for_status()
            fields = created.json()
            endpoints.append(Endpoint(fields["id"], path, receiver.url(path), fields["secret"]))
        await receiver.configure(
            [
                PathSetup(
                    endpoint.path,
                    endpoint.secret,
                    fail_first=fail_first,
                    record_attempts=record_attempts,
                )
                for endpoint in endpoints
            ]
        )
        return Tenant(name=name, api_key=api_key, endpoints=endpoints)

    def emitter(self, tenant: Tenant) -> Send:
        """Emit one event for the tenant through ``POST /v1/events``."""
        body = {"type": EVENT_TYPE, "data": event_data()}

        async def send(number: int) -> Sent:
            response = await self._http.post("/v1/events", json=body, headers=tenant.auth)
            if response.status_code != 202:
                return Sent(accepted=False, event_id=None, status=response.status_code)
            return Sent(accepted=True, event_id=response.json()["id"], status=202)

        return send

    async def attempts(self, tenant: Tenant, event_id: str) -> list[dict[str, Any]]:
        """The event's attempts in the order they were made."""
        response = await self._http.get(
            f"/v1/events/{event_id}/attempts", params={"limit": 200}, headers=tenant.auth
        )
        response.raise_for_status()
        attempts: list[dict[str, Any]] = response.json()["data"]
        return sorted(attempts, key=lambda attempt: (attempt["endpoint_id"], attempt["attempt"]))
