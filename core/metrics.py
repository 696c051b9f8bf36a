"""Every Prometheus metric of the service, named in this one place.

The API counts the events it accepts; the worker counts each attempt and how each delivery
settles. All register on prometheus-client's default registry, which the API serves at
``/metrics`` and the worker on its own metrics port.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Histogram

from core.contracts import DeliveryStatus

AttemptOutcome = Literal["succeeded", "failed", "gone", "refused"]
DisableReason = Literal["gone", "failing_too_long"]

ATTEMPT_OUTCOMES: tuple[AttemptOutcome, ...] = ("succeeded", "failed", "gone", "refused")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")
SETTLED_OUTCOMES = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
DISABLE_REASONS: tuple[DisableReason, ...] = ("gone", "failing_too_long")

EVENTS_EMITTED = Counter(
    "webhooks_events_emitted_total",
    "Events the API accepted, by type; idempotent replays and rejected emits are not counted.",
    ["event_type"],
)
DELIVERY_ATTEMPTS = Counter(
    "webhooks_delivery_attempts_total",
    "Delivery attempts, by outcome and the class of the receiver's status code.",
    ["outcome", "status_class"],
)
DELIVERIES = Counter(
    "webhooks_deliveries_total",
    "Deliveries that settled: delivered, or failed for good.",
    ["outcome"],
)
ATTEMPT_DURATION = Histogram(
    "webhooks_delivery_attempt_duration_seconds",
    "How long one delivery attempt's HTTP request took, until the answer was read.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)
DELIVERY_LATENCY = Histogram(
    "webhooks_delivery_latency_seconds",
    "From an event's creation to its delivery to an endpoint, retries included.",
    # From a first-attempt delivery to the last step of a three-day schedule.
    buckets=(
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
        10,
        30,
        60,
        300,
        1800,
        3600,
        7200,
        21600,
        86400,
        259200,
    ),
)
ATTEMPTS_PER_DELIVERY = Histogram(
    "webhooks_delivery_attempts_per_delivery",
    "How many attempts a delivery took when it settled, delivered or failed.",
    buckets=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20),
)
ENDPOINTS_DISABLED = Counter(
    "webhooks_endpoints_disabled_total",
    "Endpoints the service disabled: answering 410 Gone, or failing too long.",
    ["reason"],
)

# Resolved once, so an attempt pays a dict lookup rather than a label lookup under a lock,
# and every series exists at zero before its first increment (so rate() sees that one).
_attempts: dict[tuple[str, str], Counter] = {
    (outcome, status_class): DELIVERY_ATTEMPTS.labels(outcome, status_class)
    for outcome in ATTEMPT_OUTCOMES
    for status_class in STATUS_CLASSES
}
_settled = {outcome: DELIVERIES.labels(outcome.value) for outcome in SETTLED_OUTCOMES}
_disabled = {reason: ENDPOINTS_DISABLED.labels(reason) for reason in DISABLE_REASONS}


def status_class(status_code: int | None) -> str:
    """``"2xx"`` for 204 and so on; ``"none"`` when no answer came."""
    return "none" if status_code is None else f"{status_code // 100}xx"


def count_emit(event_type: str) -> None:
    EVENTS_EMITTED.labels(event_type).inc()


def count_attempt(outcome: str, status_code: int | None) -> None:
    key = (outcome, status_class(status_code))
    counter = _attempts.get(key) or DELIVERY_ATTEMPTS.labels(*key)
    counter.inc()


def count_settled(outcome: DeliveryStatus, *, attempts: int) -> None:
    """A delivery reached ``delivered`` or ``failed`` after ``attempts`` attempts."""
    _settled[outcome].inc()
    ATTEMPTS_PER_DELIVERY.observe(attempts)


def count_disabled(reason: DisableReason) -> None:
    _disabled[reason].inc()
