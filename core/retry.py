"""Declarative retry policies, loaded from a TOML file and validated when the service starts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from core.catalog import EVENT_TYPE_NAMES
from core.config_files import load_toml_model
from core.contracts import SINGLE_ATTEMPT_POLICY, DeliveryRetry

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class RetryPolicyError(ValueError):
    """The retry policy file is missing, unreadable or invalid."""


def parse_duration(text: str) -> timedelta:
    """``"500ms"``, ``"5s"``, ``"5m"``, ``"2h"`` or ``"1d"`` as a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as '500ms', '5s', '5m', '2h' or '1d'")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _duration_from_text(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration_from_text)]


class _PolicyBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""


class SchedulePolicy(_PolicyBase):
    kind: Literal["schedule"] = "schedule"
    schedule: list[Duration] = Field(min_length=1, max_length=100)
    jitter: float = Field(default=0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _first_attempt_is_immediate(self) -> SchedulePolicy:
        if self.schedule[0] != timedelta(0):
            raise ValueError("a schedule starts with '0s': the first attempt is immediate")
        if any(delay <= timedelta(0) for delay in self.schedule[1:]):
            raise ValueError("every delay after the first attempt must be positive")
        return self


class ExponentialPolicy(_PolicyBase):
    kind: Literal["exponential"]
    initial_interval: Duration
    backoff: float = Field(default=2.0, ge=1)
    maximum_interval: Duration
    maximum_attempts: int = Field(ge=1, le=1000)
    deadline: Duration | None = None

    @model_validator(mode="after")
    def _intervals_are_ordered(self) -> ExponentialPolicy:
        if self.initial_interval <= timedelta(0):
            raise ValueError("initial_interval must be positive")
        if self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval must not be shorter than initial_interval")
        return self


def _policy_kind(value: object) -> str:
    # "kind" may be left out: a policy is a schedule unless it says otherwise.
    if isinstance(value, dict):
        return str(value.get("kind", "schedule"))
    return str(getattr(value, "kind", "schedule"))


RetryPolicySpec = Annotated[
    Annotated[SchedulePolicy, Tag("schedule")] | Annotated[ExponentialPolicy, Tag("exponential")],
    Discriminator(_policy_kind),
]


class RetryPolicies(BaseModel):
    """Every named policy, the default, and the defaults some event types name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str
    policies: dict[str, RetryPolicySpec] = Field(min_length=1)
    event_type_defaults: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_resolve(self) -> RetryPolicies:
        if self.default not in self.policies:
            raise ValueError(f"default policy {self.default!r} is not among {self.names}")
        for event_type, policy in self.event_type_defaults.items():
            if event_type not in EVENT_TYPE_NAMES:
                raise ValueError(f"event_type_defaults names unknown event type {event_type!r}")
            if policy not in self.policies:
                raise ValueError(f"event type {event_type!r} names unknown policy {policy!r}")
        return self

    @property
    def names(self) -> list[str]:
        return sorted(self.policies)

    @staticmethod
    def single_attempt() -> DeliveryRetry:
        return DeliveryRetry(
            policy=SINGLE_ATTEMPT_POLICY,
            kind="schedule",
            maximum_attempts=1,
            schedule_seconds=[0.0],
        )

    def resolve(self, *, endpoint_policy: str | None, event_type: str) -> DeliveryRetry:
        """The policy a delivery runs under: the endpoint's, else the event type's, else default.

        An endpoint naming a policy that a later edit of the file removed falls back to the
        event type's or the global default rather than stopping its deliveries.
        """
        name = endpoint_policy if endpoint_policy in self.policies else None
        name = name or self.event_type_defaults.get(event_type) or self.default
        return _to_delivery_retry(name, self.policies[name])


def _to_delivery_retry(name: str, spec: SchedulePolicy | ExponentialPolicy) -> DeliveryRetry:
    if isinstance(spec, SchedulePolicy):
        return DeliveryRetry(
            policy=name,
            kind=spec.kind,
            maximum_attempts=len(spec.schedule),
            schedule_seconds=[delay.total_seconds() for delay in spec.schedule],
            jitter=spec.jitter,
        )
    return DeliveryRetry(
        policy=name,
        kind=spec.kind,
        maximum_attempts=spec.maximum_attempts,
        initial_interval_seconds=spec.initial_interval.total_seconds(),
        backoff=spec.backoff,
        maximum_interval_seconds=spec.maximum_interval.total_seconds(),
        deadline_seconds=spec.deadline.total_seconds() if spec.deadline else None,
    )


def load_retry_policies(path: Path) -> RetryPolicies:
    """Read and validate the policy file; every problem is named with its place in the file."""
    return load_toml_model(
        path, RetryPolicies, what="retry policy file", error=RetryPolicyError, location=_location
    )


def _location(loc: tuple[int | str, ...]) -> str:
    """Where a problem is in the file, without the policy-kind tag pydantic adds to the path."""
    if len(loc) > 2 and loc[0] == "policies" and loc[2] in ("schedule", "exponential"):
        loc = loc[:2] + loc[3:]
    return ".".join(map(str, loc)) or "(file)"
