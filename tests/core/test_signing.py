from __future__ import annotations

import base64
import time

from standardwebhooks.webhooks import Webhook

from core.signing import generate_secret, signature, signed_headers


def test_standard_webhooks_test_vector_signs_as_the_spec_says() -> None:
    signed = signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body='{"test": 2432232314}',
    )

    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_generated_secrets_are_whsec_with_at_least_24_random_bytes() -> None:
    secrets = {generate_secret() for _ in range(50)}

    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24


def test_signed_headers_verify_with_the_reference_library() -> None:
    secret = generate_secret()
    now = int(time.time())
    body = '{"type":"room.created","data":{}}'

    headers = signed_headers([secret], message_id="msg_1", timestamp=now, body=body)

    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == str(now)
    assert Webhook(secret).verify(body, headers) == {"type": "room.created", "data": {}}
