"""Tables of the store and the shapes the API reads and returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from core.catalog import OPERATIONAL_EVENT_TYPE_NAMES, SUBSCRIBABLE_EVENT_TYPE_NAMES
from core.contracts import DeliveryStatus

MAX_URL_LENGTH = 2048


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database, SQLite included, which keeps no zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _utc_column(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _created_column() -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


# ---------------------------------------------------------------- tables


class Account(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    created_at: datetime = _created_column()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=40)
    key_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = _created_column()


class Endpoint(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=40)
    url: str = Field(max_length=MAX_URL_LENGTH)
    description: str = Field(default="", max_length=1000)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    retry_policy: str | None = Field(default=None, max_length=100)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = _utc_column()
    disabled_at: datetime | None = _utc_column()
    disabled_reason: str | None = Field(default=None, max_length=1000)
    failing_since: datetime | None = _utc_column()
    """The first failed attempt since the last success: how long the endpoint has been down."""
    created_at: datetime = _created_column()
    updated_at: datetime = _created_column()

    def subscribes_to(self, event_type: str) -> bool:
        """Empty event types mean every classroom event; operational events only go to
        endpoints that name them."""
        if not self.event_types:
            return event_type not in OPERATIONAL_EVENT_TYPE_NAMES
        return event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the previous one while its grace period lasts."""
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and now < expires:
            return [self.secret, self.previous_secret]
        return [self.secret]


class Event(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key", name="uq_event_idempotency_key"),
        Index("ix_event_account_id_id", "account_id", "id"),
        Index("ix_event_account_id_type_id", "account_id", "type", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="account.id", max_length=40)
    type: str = Field(max_length=100)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=255)
    workflow_started: bool = False
    endpoints_resolved: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Set by the event's workflow once it has recorded a delivery per endpoint it goes to."""
    created_at: datetime = _created_column()


class Delivery(SQLModel, table=True):
    """The state of one event's delivery to one endpoint."""

    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_delivery_event_endpoint"),
        Index("ix_delivery_endpoint_id_event_id", "endpoint_id", "event_id"),
        Index("ix_delivery_account_id_status", "account_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(foreign_key="event.id", max_length=40)
    endpoint_id: str = Field(max_length=40)
    account_id: str = Field(max_length=40)
    retry_policy: str = Field(max_length=100)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=20)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    last_attempt_at: datetime | None = _utc_column()
    next_attempt_at: datetime | None = _utc_column()
    delivered_at: datetime | None = _utc_column()
    created_at: datetime = _created_column()
    updated_at: datetime = _created_column()


class Attempt(SQLModel, table=True):
    """One HTTP request to an endpoint, whatever came of it."""

    __table_args__ = (
        Index("ix_attempt_event_id_id", "event_id", "id"),
        Index("ix_attempt_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_attempt_account_id_started_at", "account_id", "started_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    delivery_id: str = Field(foreign_key="delivery.id", max_length=40)
    event_id: str = Field(max_length=40)
    endpoint_id: str = Field(max_length=40)
    account_id: str = Field(max_length=40)
    attempt: int
    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    """Where the request went; the endpoint may have moved or gone since."""
    outcome: str = Field(max_length=20)
    status_code: int | None = None
    response_body: str | None = Field(default=None, max_length=1024)
    error: str | None = Field(default=None, max_length=1000)
    scheduled_at: datetime | None = _utc_column()
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    duration_ms: float


# ---------------------------------------------------------------- API shapes


def _known_event_type(name: str) -> str:
    if name not in SUBSCRIBABLE_EVENT_TYPE_NAMES:
        known = ", ".join(SUBSCRIBABLE_EVENT_TYPE_NAMES)
        raise ValueError(f"unknown event type {name!r}; known types: {known}")
    return name


EventTypeName = Annotated[str, AfterValidator(_known_event_type)]


def _plainly_wrong_url(value: Any) -> Any:
    """The usual mistakes in an endpoint URL, each named in the customer's words before the
    URL parser's own, terser, messages."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        raise PydanticCustomError("url_missing", "Enter the URL that should receive the events")
    if len(value) > MAX_URL_LENGTH:
        raise PydanticCustomError(
            "url_too_long",
            "A URL has at most {limit} characters; this one has {length}",
            {"limit": MAX_URL_LENGTH, "length": len(value)},
        )
    scheme, separator, rest = value.partition("://")
    if not separator:
        raise PydanticCustomError(
            "url_scheme_missing",
            "Start the URL with https:// (or http://), e.g. https://{example}",
            {"example": value.strip().lstrip("/") or "example.com/webhooks"},
        )
    if scheme.lower() not in ("http", "https"):
        raise PydanticCustomError(
            "url_scheme", "Use an https:// or http:// URL, not {scheme}://", {"scheme": scheme}
        )
    if any(character.isspace() for character in rest):
        raise PydanticCustomError(
            "url_space", "A URL has no spaces: remove them (in a path, write %20)"
        )
    return value


EndpointUrl = Annotated[AnyHttpUrl, BeforeValidator(_plainly_wrong_url)]


class _Strict(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class AccountCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)


class AccountCreated(SQLModel):
    id: str
    name: str
    api_key: str
    created_at: datetime


class EndpointCreate(_Strict):
    url: EndpointUrl = Field(max_length=MAX_URL_LENGTH)
    event_types: list[EventTypeName] = Field(
        default_factory=list, description="Event types to receive; empty means every type."
    )
    description: str = Field(default="", max_length=1000)
    retry_policy: str | None = Field(
        default=None, description="A named retry policy; omitted means the default."
    )


class EndpointUpdate(_Strict):
    url: EndpointUrl | None = Field(default=None, max_length=MAX_URL_LENGTH)
    event_types: list[EventTypeName] | None = None
    description: str | None = Field(default=None, max_length=1000)
    retry_policy: str | None = None
    disabled: bool | None = Field(
        default=None, description="true disables the endpoint; false enables it again."
    )


class EndpointPublic(SQLModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    retry_policy: str | None
    disabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until then deliveries are also signed with the previous secret."
    )
    created_at: datetime
    updated_at: datetime
    attempts_24h: int = 0
    success_rate_24h: float | None = Field(
        default=None, description="Share of the last 24 hours' attempts that succeeded."
    )

    @classmethod
    def of(cls, endpoint: Endpoint, stats: tuple[int, int] = (0, 0)) -> Self:
        attempts, succeeded = stats
        return cls(
            **endpoint.model_dump(),
            disabled=endpoint.disabled_at is not None,
            attempts_24h=attempts,
            success_rate_24h=succeeded / attempts if attempts else None,
        )


class EndpointWithSecret(EndpointPublic):
    secret: str


class EndpointSecret(SQLModel):
    secret: str


class EndpointsPublic(SQLModel):
    data: list[EndpointPublic]
    count: int


class EventCreate(_Strict):
    type: str = Field(description="One of the event types listed by GET /v1/event-types.")
    data: dict[str, Any] = Field(description="The payload, valid against the type's schema.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class DeliveryPublic(SQLModel):
    endpoint_id: str
    endpoint_url: str | None = Field(
        default=None,
        description="Where the delivery goes: the endpoint's URL, or, once the endpoint is "
        "deleted, where its last attempt went.",
    )
    status: str
    retry_policy: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class EventPublic(SQLModel):
    id: str
    type: str
    data: dict[str, Any]
    idempotency_key: str | None
    workflow_id: str
    workflow_url: str
    created_at: datetime
    endpoints_resolved: bool = Field(
        description="Whether the event's workflow has found the endpoints it goes to. Until "
        "then `deliveries` is empty: the event is accepted and waits for a worker."
    )
    deliveries: list[DeliveryPublic]


class ResendRequest(_Strict):
    endpoint_id: str = Field(description="The endpoint to deliver the event to again.")


class RecoverRequest(_Strict):
    since: datetime = Field(description="Redeliver what failed or was skipped from this time on.")


class RecoverAccepted(SQLModel):
    endpoint_id: str
    since: datetime
    workflow_id: str
    workflow_url: str


class ResendAccepted(SQLModel):
    event_id: str
    endpoint_id: str
    workflow_id: str
    workflow_url: str
    already_running: bool = Field(
        description="A resend to this endpoint had an attempt under way: it is the one "
        "returned, and nothing more is sent now."
    )
    replaced: bool = Field(
        default=False,
        description="A resend to this endpoint was waiting to retry: it was stopped, and this "
        "one sends now in its place.",
    )


class TestDelivery(SQLModel):
    """What became of a test event sent to one endpoint."""

    event_id: str
    status: str
    status_code: int | None
    duration_ms: float | None
    response_body: str | None
    error: str | None


class EventsPublic(SQLModel):
    data: list[EventPublic]
    next_cursor: str | None


class AttemptPublic(SQLModel):
    id: str
    event_id: str
    endpoint_id: str
    url: str | None = Field(
        default=None,
        description="The URL the request went to, kept when the endpoint's URL changes or the "
        "endpoint is deleted; null for attempts stored before it was recorded.",
    )
    attempt: int
    outcome: str
    status_code: int | None
    response_body: str | None
    error: str | None
    scheduled_at: datetime | None
    started_at: datetime
    duration_ms: float


class AttemptsPublic(SQLModel):
    data: list[AttemptPublic]
    next_cursor: str | None


class EventTypePublic(BaseModel):
    name: str
    description: str
    schema_: dict[str, Any] = PydanticField(alias="schema")
    example: dict[str, Any]


class EventTypesPublic(SQLModel):
    data: list[EventTypePublic]
    operational: list[EventTypePublic] = Field(
        default_factory=list,
        description="Events about deliveries, sent by automations; endpoints may subscribe.",
    )


class RetryPolicyPublic(SQLModel):
    name: str
    description: str
    default: bool
