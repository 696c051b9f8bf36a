"""What crosses the Temporal boundary: workflow and activity inputs and results, names.

Everything here is a plain dataclass so it serialises the same way in every SDK version;
fields added later get defaults so histories written before them still replay. Histories
carry identifiers, never endpoint secrets or event payloads.

Annotations here are evaluated when the module loads, not postponed: Temporal's converter
resolves a dataclass's type hints for every payload, and resolving string annotations
takes about five times as long.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

EVENT_TYPE_ATTRIBUTE = SearchAttributeKey.for_keyword("WebhookEventType")
ACCOUNT_ID_ATTRIBUTE = SearchAttributeKey.for_keyword("WebhookAccountId")
ENDPOINT_IDS_ATTRIBUTE = SearchAttributeKey.for_keyword_list("WebhookEndpointIds")
STATUS_ATTRIBUTE = SearchAttributeKey.for_keyword("WebhookStatus")
SEARCH_ATTRIBUTES = (
    EVENT_TYPE_ATTRIBUTE,
    ACCOUNT_ID_ATTRIBUTE,
    ENDPOINT_IDS_ATTRIBUTE,
    STATUS_ATTRIBUTE,
)
# Temporal caps a search attribute's value at 2 KiB, so a large fan-out lists only its
# first endpoints; the API lists events by any endpoint.
MAX_SEARCHABLE_ENDPOINT_IDS = 50


def event_search_attributes(event_type: str, account_id: str) -> TypedSearchAttributes:
    """What an event workflow starts with; its endpoints and outcome are added as it runs."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(EVENT_TYPE_ATTRIBUTE, event_type),
            SearchAttributePair(ACCOUNT_ID_ATTRIBUTE, account_id),
            SearchAttributePair(STATUS_ATTRIBUTE, EventStatus.DELIVERING.value),
        ]
    )


class EventStatus(StrEnum):
    """``WebhookStatus`` of an event's workflow, kept current as its deliveries settle."""

    DELIVERING = "delivering"
    DELIVERED = "delivered"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"

    @classmethod
    def of(cls, statuses: list[str]) -> "EventStatus":
        delivered = sum(status == DeliveryStatus.DELIVERED for status in statuses)
        if delivered == len(statuses):
            return cls.DELIVERED
        return cls.FAILED if delivered == 0 else cls.PARTIALLY_FAILED


# Temporal refuses more than 2,000 pending activities in one workflow; stay well below.
MAX_CONCURRENT_DELIVERIES = 500
# A local attempt holds the workflow task open until it ends; beyond this many endpoints
# the first attempts run as ordinary activities, so one slow receiver cannot hold back
# the record of a large fan-out.
MAX_LOCAL_FIRST_ATTEMPTS = 50


def event_workflow_id(event_id: str) -> str:
    return f"event-{event_id}"


def resend_workflow_id(event_id: str, endpoint_id: str) -> str:
    return f"event-{event_id}-resend-{endpoint_id}"


# A test delivery is tried once: its caller is waiting for the answer.
SINGLE_ATTEMPT_POLICY = "single-attempt"


class DeliveryErrorType(StrEnum):
    """``ApplicationError.type`` of a failed delivery attempt."""

    ENDPOINT_GONE = "EndpointGone"
    """The receiver answered 410: the endpoint is disabled and never retried."""
    ENDPOINT_UNAVAILABLE = "EndpointUnavailable"
    """The endpoint was deleted or disabled while the delivery waited to retry."""
    DESTINATION_REFUSED = "DestinationRefused"
    """The URL is, or resolves to, an address deliveries may not reach; never retried."""
    RECEIVER_REJECTED = "ReceiverRejected"
    """The receiver answered with a non-2xx status; retried under the endpoint's policy."""
    RECEIVER_UNREACHABLE = "ReceiverUnreachable"
    """No HTTP answer: connection refused, DNS failure, timeout; retried."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    """The endpoint was disabled when the event came; recover delivers it later."""


@dataclass(frozen=True)
class DeliveryRetry:
    """A resolved retry policy, as the workflow hands it to Temporal.

    ``schedule`` policies list the delay before each attempt; the activity expresses them
    with ``ApplicationError.next_retry_delay``. ``exponential`` policies map onto Temporal's
    own retry policy directly.
    """

    policy: str
    kind: str
    maximum_attempts: int
    schedule_seconds: list[float] = field(default_factory=list)
    jitter: float = 0.0
    initial_interval_seconds: float = 1.0
    backoff: float = 2.0
    maximum_interval_seconds: float = 3600.0
    deadline_seconds: float | None = None

    def delay_after_attempt(self, attempt: int) -> timedelta | None:
        """The scheduled wait after the given 1-based attempt fails, without jitter."""
        if self.kind != "schedule" or attempt >= len(self.schedule_seconds):
            return None
        return timedelta(seconds=self.schedule_seconds[attempt])


@dataclass(frozen=True)
class EventWorkflowInput:
    event_id: str
    account_id: str
    event_type: str
    endpoint_ids: list[str] | None = None
    """Deliver to exactly these endpoints (a resend or a test) instead of the subscribers."""
    single_attempt: bool = False
    """One attempt and no retries, as a test delivery wants."""
    search_attributes: bool = True
    """Keep the WebhookEndpointIds and WebhookStatus search attributes current; off for a
    Temporal server on which they cannot be registered."""
    local_first_attempts: bool = False
    """Look up the endpoints and make each first attempt as local activities. Set by every
    starter of this version; histories started before it replay without."""


class Trigger(StrEnum):
    """The delivery outcomes an automation can start from."""

    DELIVERED = "delivered"
    EXHAUSTED = "exhausted"
    SETTLED = "settled"
    ENDPOINT_DISABLED = "endpoint_disabled"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class AutomationRule:
    """One rule of automations.toml, as the event workflow carries it out."""

    name: str
    when: Trigger
    endpoint_ids: list[str] = field(default_factory=list)
    workflow_type: str | None = None
    task_queue: str | None = None
    emit: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What a chained workflow receives: which delivery reached which outcome."""

    rule: str
    trigger: str
    event_id: str
    event_type: str
    account_id: str
    endpoint_id: str | None
    endpoint_url: str | None
    outcome: str
    attempts: int
    last_status_code: int | None = None
    reason: str | None = None


def automation_workflow_id(rule: str, event_id: str, endpoint_id: str | None) -> str:
    # From the event and the rule, so a resent or replayed event starts nothing twice.
    return f"automation-{rule}-{event_id}" + (f"-{endpoint_id}" if endpoint_id else "")


@dataclass(frozen=True)
class OperationalEventInput:
    account_id: str
    event_type: str
    data: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class OperationalEvent:
    event_id: str
    event_type: str


@dataclass(frozen=True)
class Subscriber:
    endpoint_id: str
    url: str
    retry: DeliveryRetry


@dataclass(frozen=True)
class SubscribersInput:
    event_id: str
    account_id: str
    event_type: str
    endpoint_ids: list[str] | None = None
    single_attempt: bool = False


@dataclass(frozen=True)
class SubscribersResult:
    subscribers: list[Subscriber]
    attempt_timeout_seconds: float = 60.0
    automations: list[AutomationRule] = field(default_factory=list)


def recover_workflow_id(endpoint_id: str, since: datetime) -> str:
    return f"recover-{endpoint_id}-{int(since.timestamp())}"


def recovered_event_workflow_id(event_id: str, endpoint_id: str, since: datetime) -> str:
    return f"event-{event_id}-recover-{endpoint_id}-{int(since.timestamp())}"


@dataclass(frozen=True)
class RecoverInput:
    account_id: str
    endpoint_id: str
    since: datetime
    after_event_id: str | None = None
    """Where a continued run picks up: events up to this one are already started."""
    started: int = 0
    search_attributes: bool = True


@dataclass(frozen=True)
class RecoverableInput:
    endpoint_id: str
    since: datetime
    after_event_id: str | None
    limit: int


@dataclass(frozen=True)
class RecoverableEvent:
    event_id: str
    event_type: str


@dataclass(frozen=True)
class RecoverableResult:
    events: list[RecoverableEvent]


@dataclass(frozen=True)
class RecoverResult:
    endpoint_id: str
    started: int


@dataclass(frozen=True)
class DeliveryInput:
    event_id: str
    endpoint_id: str
    retry: DeliveryRetry
    attempts_before: int = 0
    """Attempts already made by an earlier activity (a local first attempt)."""
    scheduled_at: datetime | None = None
    """When a local attempt was scheduled, on Temporal's clock: a local activity's own
    scheduled time is the worker's."""


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int
    attempts: int
    recovered: bool = False
    """The endpoint had been failing until this delivery."""


@dataclass(frozen=True)
class DeliveryFailureInput:
    event_id: str
    endpoint_id: str
    error: str


ATTEMPT_FAILED_SIGNAL = "attempt_failed"
DELIVERIES_QUERY = "deliveries"


@dataclass(frozen=True)
class AttemptReport:
    """A failed attempt that will be retried, as its activity tells its workflow."""

    endpoint_id: str
    attempt: int
    status_code: int | None
    next_attempt_at: datetime | None


@dataclass
class EndpointState:
    """One delivery as its workflow knows it, live: the answer to the deliveries query."""

    endpoint_id: str
    url: str
    status: str = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class EndpointOutcome:
    endpoint_id: str
    status: str
    attempts: int
    status_code: int | None = None
    error: str | None = None
    recovered: bool = False
    disabled_reason: str | None = None


@dataclass(frozen=True)
class EventWorkflowResult:
    event_id: str
    outcomes: list[EndpointOutcome]

    @property
    def delivered(self) -> int:
        return sum(outcome.status == DeliveryStatus.DELIVERED for outcome in self.outcomes)
