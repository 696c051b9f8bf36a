"""Limits that keep one caller from crowding out the rest: body size and emit rate."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CurrentAccount, SettingsDep
from api.errors import error_response


class BodySizeLimit:
    """Refuse request bodies over the configured size with 413, declared or streamed.

    The body is read here, up to the limit, before the application sees it: bodies are
    small, and a refusal then happens before any route has done anything.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Settings are resolved at start-up, after the middleware is built.
        limit: int = scope["app"].state.settings.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(
            status.HTTP_413_CONTENT_TOO_LARGE, f"the request body is larger than {limit} bytes"
        )
        await response(scope, receive, send)


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class EmitRateLimiter:
    """A token bucket per account: ``rate`` emits a second, bursts up to ``burst``.

    Kept in the API process, so with several API processes each allows this rate.
    """

    rate: float
    burst: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def wait_needed(self, account_id: str) -> float:
        """Take a token and return 0, or return the seconds until one is free."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(account_id, _Bucket(float(self.burst), now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


async def _limiter(request: Request, settings: SettingsDep) -> EmitRateLimiter:
    state = request.app.state
    if getattr(state, "emit_limiter", None) is None:
        state.emit_limiter = EmitRateLimiter(
            rate=settings.emit_rate_per_second, burst=settings.emit_burst
        )
    limiter: EmitRateLimiter = state.emit_limiter
    return limiter


async def enforce_emit_rate(
    account: CurrentAccount, limiter: Annotated[EmitRateLimiter, Depends(_limiter)]
) -> None:
    wait = limiter.wait_needed(account.id)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many events emitted; slow down and retry after the given seconds",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
