"""Standard Webhooks signatures, through the specification's reference library."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32


def generate_secret() -> str:
    """A new endpoint signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature(secret: str, *, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{message_id}.{timestamp}.{body}`` under ``secret``."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


def signed_headers(
    secrets: Sequence[str], *, message_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """The three headers a Standard Webhooks receiver verifies.

    Several secrets give several space-separated signatures, as the specification allows:
    after a rotation, receivers still holding the previous secret keep verifying.
    """
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id=message_id, timestamp=timestamp, body=body)
            for secret in secrets
        ),
    }
