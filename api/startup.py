"""A start-up refused for a reason the operator can act on, reported as that one line.

Starlette hands uvicorn a failed start-up as the exception's whole traceback, which buries
the one sentence that matters (such as which command brings the store up to date).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.schema import SchemaError


class PlainStartupRefusal:
    """Report a ``SchemaError`` raised while starting as its message alone; uvicorn logs it
    and exits. Every other failure is passed on untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_startup_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, hold_startup_failure)
        except SchemaError as refusal:
            if not held:  # raised after start-up: nothing to rephrase
                raise
            held = [
                {"type": "lifespan.startup.failed", "message": f"the API cannot start: {refusal}"}
            ]
        finally:
            for message in held:
                await send(message)
