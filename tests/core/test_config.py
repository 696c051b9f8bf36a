from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.config import Settings


def test_development_defaults_the_admin_token() -> None:
    assert Settings(_env_file=None).admin_token == "dev-admin-token"  # type: ignore[call-arg]


@pytest.mark.parametrize("token", ["", "dev-admin-token"])
def test_production_refuses_a_default_or_empty_admin_token(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("WEBHOOKS_ENVIRONMENT", "production")
    monkeypatch.setenv("WEBHOOKS_ADMIN_TOKEN", token)

    with pytest.raises(ValidationError, match="WEBHOOKS_ADMIN_TOKEN"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_starts_with_a_real_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOKS_ENVIRONMENT", "production")
    monkeypatch.setenv("WEBHOOKS_ADMIN_TOKEN", "s3cr3t-and-long")

    assert Settings(_env_file=None).admin_token == "s3cr3t-and-long"  # type: ignore[call-arg]


def test_temporal_connection_comes_from_temporal_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "webhooks-prod")
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-123")

    config = Settings(_env_file=None).temporal_connect_config()  # type: ignore[call-arg]

    assert config["target_host"] == "temporal.internal:7233"
    assert config["namespace"] == "webhooks-prod"
    assert config["api_key"] == "key-123" and config["tls"] is True


def test_database_url_comes_from_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")

    assert Settings(_env_file=None).database_url == "postgresql://postgres@127.0.0.1/test"  # type: ignore[call-arg]
