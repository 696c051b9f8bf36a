"""The bench's side of the receiver: register paths, read counts and receipts, reset."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

POLL_INTERVAL = 0.2
# Any number of failing attempts can be asked for; this one stands for "always".
ALWAYS_FAIL = 1_000_000_000


@dataclass(frozen=True)
class PathSetup:
    path: str
    secret: str
    fail_first: int = 0
    fail_status: int = 500
    record_attempts: bool = False


@dataclass(frozen=True)
class Receipts:
    first_receipt: dict[str, dict[str, float]]
    """Path, then webhook-id: when the first accepted attempt arrived (wall clock)."""
    attempts: list[tuple[str, str, float, int]]
    """Path, webhook-id, arrival, answered status: for the paths that record attempts."""


class ReceiverControl:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self.base_url = base_url

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def configure(self, paths: list[PathSetup]) -> None:
        body = {
            "paths": {
                setup.path: {
                    "secret": setup.secret,
                    "fail_first": setup.fail_first,
                    "fail_status": setup.fail_status,
                    "record_attempts": setup.record_attempts,
                }
                for setup in paths
            }
        }
        response = await self._http.post(self.url("/_bench/configure"), json=body)
        response.raise_for_status()

    async def reset(self) -> None:
        response = await self._http.post(self.url("/_bench/reset"))
        response.raise_for_status()

    async def summary(self) -> dict[str, Any]:
        response = await self._http.get(self.url("/_bench/summary"))
        response.raise_for_status()
        summary: dict[str, Any] = response.json()
        return summary

    async def counts(self, paths: list[str], *, key: str = "unique") -> int:
        """Unique deliveries (or attempts, with ``key="attempts"``) summed over ``paths``."""
        summary = await self.summary()
        return sum(summary["paths"].get(path, {}).get(key, 0) for path in paths)

    async def receipts(self) -> Receipts:
        response = await self._http.get(self.url("/_bench/receipts"), timeout=60)
        response.raise_for_status()
        raw = response.json()
        return Receipts(
            first_receipt=raw["first_receipt"],
            attempts=[(p, i, float(t), int(s)) for p, i, t, s in raw["attempts"]],
        )

    async def wait_for(
        self, paths: list[str], expected: int, *, timeout: float, key: str = "unique"
    ) -> int:
        """Poll until ``expected`` arrived on ``paths`` or ``timeout`` passed; the count."""
        deadline = time.monotonic() + timeout
        while True:
            count = await self.counts(paths, key=key)
            if count >= expected or time.monotonic() >= deadline:
                return count
            await asyncio.sleep(POLL_INTERVAL)
