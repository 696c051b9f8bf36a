"""Service settings, read from the environment (prefix ``WEBHOOKS_``) and ``.env``.

Temporal's own connection settings (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, TLS, profiles) are deliberately not duplicated here: they come from
``temporalio.envconfig`` so the service reads them exactly like the ``temporal`` CLI does.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.envconfig import ClientConfigProfile

from core.destinations import DestinationPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_TOKEN = "dev-admin-token"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WEBHOOKS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    admin_token: str = DEFAULT_ADMIN_TOKEN
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{PROJECT_ROOT / '.data' / 'webhooks.db'}",
        validation_alias="DATABASE_URL",
    )
    task_queue: str = "webhooks"
    retry_policies_file: Path = PROJECT_ROOT / "retry_policies.toml"
    automations_file: Path = PROJECT_ROOT / "automations.toml"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    temporal_profile: str | None = None
    temporal_rpc_timeout_seconds: float = 5.0
    search_attributes: bool = Field(
        default=True,
        description="Set the Webhook* search attributes; off where they cannot be registered.",
    )

    log_level: str = "INFO"
    max_body_bytes: int = 256 * 1024
    emit_rate_per_second: float = 500.0
    emit_burst: int = 1000
    worker_max_concurrent_activities: int = 200
    worker_max_concurrent_workflow_tasks: int = Field(
        default=20,
        ge=2,
        description=(
            "Event workflow tasks in the worker at once. Each runs its lookup and first "
            "attempts in the worker, so more only queue behind the same activity slots."
        ),
    )
    worker_max_cached_workflows: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Event workflows kept in memory between their tasks; others are replayed. "
            "Default: twice the workflow tasks."
        ),
    )
    metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="The worker's own metrics; 0 turns them off."
    )
    temporal_metrics_port: int = Field(
        default=9465, ge=0, le=65535, description="The Temporal SDK's metrics; 0 turns them off."
    )
    worker_shutdown_grace_seconds: float = Field(
        default=45.0,
        description="On SIGTERM, how long attempts in flight get to finish and be recorded.",
    )

    delivery_connect_timeout_seconds: float = 15.0
    delivery_read_timeout_seconds: float = 15.0
    delivery_max_connections: int = 200
    delivery_max_connections_per_host: int = Field(
        default=50,
        description="Connections one worker keeps open to one address at once; more "
        "deliveries to it wait for one within their attempt's time.",
    )
    delivery_user_agent: str = "Teachstack-Webhooks/0.1"
    delivery_allowlist: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) or host names deliveries may reach although not public.",
    )
    delivery_require_https: bool | None = Field(
        default=None, description="Default: https required outside development."
    )
    secret_rotation_grace_hours: float = 24.0
    auto_disable_after_hours: float = Field(
        default=120.0,
        description="Disable an endpoint that fails this long without a success; 0 never does.",
    )

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="Base URL of an OTLP/HTTP collector; tracing is off unless set.",
    )
    otel_service_name: str | None = Field(
        default=None,
        validation_alias="OTEL_SERVICE_NAME",
        description="Default: webhooks-api for the API, webhooks-worker for the worker.",
    )

    @property
    def auto_disable_after(self) -> timedelta | None:
        hours = self.auto_disable_after_hours
        return timedelta(hours=hours) if hours > 0 else None

    @property
    def enough_cached_workflows(self) -> int:
        """Twice the workflow tasks. In the benchmark's backlog, with 1.5 times the tasks,
        59 workflow tasks timed out and their first attempts ran again (388 of 10,000
        deliveries attempted twice); with twice, none did."""
        return 2 * self.worker_max_concurrent_workflow_tasks

    @property
    def cached_workflows(self) -> int:
        if self.worker_max_cached_workflows is not None:
            return self.worker_max_cached_workflows
        return self.enough_cached_workflows

    @model_validator(mode="after")
    def _refuse_default_secrets_outside_development(self) -> Settings:
        if self.environment != "development" and self.admin_token in ("", DEFAULT_ADMIN_TOKEN):
            raise ValueError(
                "WEBHOOKS_ADMIN_TOKEN must be set to a non-default value outside development"
            )
        if not self.admin_token:
            raise ValueError("WEBHOOKS_ADMIN_TOKEN must not be empty")
        return self

    @model_validator(mode="after")
    def _grace_outlasts_an_attempt(self) -> Settings:
        attempt = self.delivery_connect_timeout_seconds + self.delivery_read_timeout_seconds
        if self.worker_shutdown_grace_seconds <= attempt:
            raise ValueError(
                f"WEBHOOKS_WORKER_SHUTDOWN_GRACE_SECONDS ({self.worker_shutdown_grace_seconds:g})"
                " must be longer than one delivery attempt can take: "
                "WEBHOOKS_DELIVERY_CONNECT_TIMEOUT_SECONDS + WEBHOOKS_DELIVERY_READ_TIMEOUT_SECONDS"
                f" = {attempt:g} s"
            )
        return self

    def destination_policy(self) -> DestinationPolicy:
        return DestinationPolicy.from_settings(
            allowlist=self.delivery_allowlist,
            development=self.environment == "development",
            require_https=self.delivery_require_https,
        )

    def temporal_connect_config(self) -> dict[str, Any]:
        """Keyword arguments for ``Client.connect``, from Temporal's env and config file."""
        profile = ClientConfigProfile.load(profile=self.temporal_profile)
        config: dict[str, Any] = dict(profile.to_client_connect_config())
        config.setdefault("target_host", "127.0.0.1:7233")
        return config


@lru_cache
def get_settings() -> Settings:
    return Settings()
