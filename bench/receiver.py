"""The bench's receiver: a raw ASGI app under uvicorn, in a process of its own.

Every delivery's signature is verified with the Standard Webhooks library, exactly as a
customer would; what passes is counted once per path and ``webhook-id``, with the time it
first arrived. A path may be told to answer 500 to its first attempts. The bench drives it
through ``/_bench/...``: register paths and their secrets, read the counts, reset.

    python -m bench.receiver --port 9100
"""

from __future__ import annotations

import argparse
import binascii
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CONTROL_PREFIX = "/_bench/"


@dataclass
class PathRule:
    verifier: Webhook
    fail_first: int = 0
    fail_status: int = 500
    record_attempts: bool = False


@dataclass
class ReceiverState:
    rules: dict[str, PathRule] = field(default_factory=dict)
    attempts_by_delivery: dict[tuple[str, str], int] = field(default_factory=dict)
    attempts_by_path: dict[str, int] = field(default_factory=dict)
    first_receipt: dict[str, dict[str, float]] = field(default_factory=dict)
    recorded_attempts: list[tuple[str, str, float, int]] = field(default_factory=list)
    rejected: int = 0
    unknown: int = 0

    def configure(self, paths: dict[str, dict[str, Any]]) -> None:
        for path, rule in paths.items():
            self.rules[path] = PathRule(
                verifier=Webhook(rule["secret"]),
                fail_first=int(rule.get("fail_first", 0)),
                fail_status=int(rule.get("fail_status", 500)),
                record_attempts=bool(rule.get("record_attempts", False)),
            )

    def reset(self) -> None:
        self.attempts_by_delivery.clear()
        self.attempts_by_path.clear()
        self.first_receipt.clear()
        self.recorded_attempts.clear()
        self.rejected = 0
        self.unknown = 0

    def deliver(self, path: str, headers: dict[str, str], body: bytes, at: float) -> int:
        """Verify and count one request; return the status to answer."""
        rule = self.rules.get(path)
        if rule is None:
            self.unknown += 1
            return 404
        try:
            rule.verifier.verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError, binascii.Error):
            self.rejected += 1
            return 401
        webhook_id = headers["webhook-id"]
        key = (path, webhook_id)
        attempt = self.attempts_by_delivery.get(key, 0) + 1
        self.attempts_by_delivery[key] = attempt
        self.attempts_by_path[path] = self.attempts_by_path.get(path, 0) + 1
        status = rule.fail_status if attempt <= rule.fail_first else 204
        if rule.record_attempts:
            self.recorded_attempts.append((path, webhook_id, at, status))
        if status < 300:
            self.first_receipt.setdefault(path, {}).setdefault(webhook_id, at)
        return status

    def summary(self) -> dict[str, Any]:
        return {
            "rejected": self.rejected,
            "unknown": self.unknown,
            "paths": {
                path: {
                    "unique": len(self.first_receipt.get(path, {})),
                    "attempts": self.attempts_by_path.get(path, 0),
                }
                for path in self.rules
            },
        }

    def receipts(self) -> dict[str, Any]:
        return {
            "first_receipt": self.first_receipt,
            "attempts": [list(attempt) for attempt in self.recorded_attempts],
        }


class ReceiverApp:
    def __init__(self, state: ReceiverState | None = None) -> None:
        self.state = state or ReceiverState()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        at = time.time()
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(path[len(CONTROL_PREFIX) :], bytes(body), send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = self.state.deliver(path, headers, bytes(body), at)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _control(self, command: str, body: bytes, send: Send) -> None:
        answer: dict[str, Any] = {}
        if command == "configure":
            self.state.configure(json.loads(body)["paths"])
        elif command == "reset":
            self.state.reset()
        elif command == "summary":
            answer = self.state.summary()
        elif command == "receipts":
            answer = self.state.receipts()
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


def main() -> None:
    parser = argparse.ArgumentParser(description="The bench's verifying webhook receiver.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    uvicorn.run(
        ReceiverApp(),
        host=arguments.host,
        port=arguments.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
        # The worker's pool keeps its connections; don't make it reconnect between bursts.
        timeout_keep_alive=60,
    )


if __name__ == "__main__":
    main()
