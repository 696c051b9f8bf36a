from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from core.config import Settings
from tests.proxies import Certificates


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


def test_worker_shutdown_grace_defaults_to_45_seconds() -> None:
    assert Settings(_env_file=None).worker_shutdown_grace_seconds == 45  # type: ignore[call-arg]


def test_worker_shutdown_grace_must_outlast_an_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOKS_DELIVERY_CONNECT_TIMEOUT_SECONDS", "10")
    monkeypatch.setenv("WEBHOOKS_DELIVERY_READ_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("WEBHOOKS_WORKER_SHUTDOWN_GRACE_SECONDS", "30")

    with pytest.raises(ValidationError, match=r"SHUTDOWN_GRACE_SECONDS \(30\) must be longer"):
        Settings(_env_file=None)  # type: ignore[call-arg]

    monkeypatch.setenv("WEBHOOKS_WORKER_SHUTDOWN_GRACE_SECONDS", "31")
    assert Settings(_env_file=None).worker_shutdown_grace_seconds == 31  # type: ignore[call-arg]


@pytest.fixture
def no_temporal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: none of the machine's own TEMPORAL_* variables."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_temporal_environment")
def test_temporal_mtls_comes_from_temporal_tls_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    certificates = Certificates.issue(tmp_path)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "webhooks.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certificates.ca))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certificates.client_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certificates.client_key))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.test")

    config = Settings(_env_file=None).temporal_connect_config()  # type: ignore[call-arg]

    assert config["target_host"] == "webhooks.a1b2c.tmprl.cloud:7233"
    assert config["tls"] == TLSConfig(
        domain="temporal.test",
        server_root_ca_cert=certificates.ca.read_bytes(),
        client_cert=certificates.client_cert.read_bytes(),
        client_private_key=certificates.client_key.read_bytes(),
    )
    assert "api_key" not in config


@pytest.mark.usefixtures("no_temporal_environment")
def test_temporal_tls_can_be_turned_off_for_a_plain_server_with_an_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-123")
    monkeypatch.setenv("TEMPORAL_TLS", "false")

    config = Settings(_env_file=None).temporal_connect_config()  # type: ignore[call-arg]

    assert config["api_key"] == "key-123" and config["tls"] is False
    assert config["target_host"] == "127.0.0.1:7233"


@pytest.mark.usefixtures("no_temporal_environment")
def test_webhooks_temporal_profile_chooses_a_profile_of_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    certificates = Certificates.issue(tmp_path)
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(
        f"""
[profile.default]
address = "127.0.0.1:7233"
namespace = "default"

[profile.cloud]
address = "webhooks.a1b2c.tmprl.cloud:7233"
namespace = "webhooks.a1b2c"
api_key = "cloud-key"

[profile.cloud.tls]
server_name = "temporal.test"
server_ca_cert_path = "{certificates.ca}"
client_cert_path = "{certificates.client_cert}"
client_key_path = "{certificates.client_key}"

[profile.cloud.grpc_meta]
x-tenant = "teachstack"
"""
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("WEBHOOKS_TEMPORAL_PROFILE", "cloud")

    config = Settings(_env_file=None).temporal_connect_config()  # type: ignore[call-arg]

    assert config["target_host"] == "webhooks.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "webhooks.a1b2c"
    assert config["api_key"] == "cloud-key"
    assert config["rpc_metadata"] == {"x-tenant": "teachstack"}
    assert config["tls"] == TLSConfig(
        domain="temporal.test",
        server_root_ca_cert=certificates.ca.read_bytes(),
        client_cert=certificates.client_cert.read_bytes(),
        client_private_key=certificates.client_key.read_bytes(),
    )

    monkeypatch.delenv("WEBHOOKS_TEMPORAL_PROFILE")
    default = Settings(_env_file=None).temporal_connect_config()  # type: ignore[call-arg]
    assert (default["target_host"], default["namespace"]) == ("127.0.0.1:7233", "default")


def test_cached_workflows_default_to_twice_the_workflow_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOKS_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "30")
    assert Settings(_env_file=None).cached_workflows == 60  # type: ignore[call-arg]
    monkeypatch.setenv("WEBHOOKS_WORKER_MAX_CACHED_WORKFLOWS", "0")
    assert Settings(_env_file=None).cached_workflows == 0  # type: ignore[call-arg]
