from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.delivery import next_delay, parse_retry_after
from core.config import PROJECT_ROOT
from core.retry import RetryPolicyError, load_retry_policies, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.toml"
    path.write_text(text)
    return path


def test_shipped_default_is_the_standard_webhooks_schedule() -> None:
    policies = load_retry_policies(PROJECT_ROOT / "retry_policies.toml")

    standard = policies.resolve(endpoint_policy=None, event_type="room.created")

    assert standard.policy == "standard" and standard.maximum_attempts == 10
    hours = [seconds / 3600 for seconds in standard.schedule_seconds]
    assert hours == [0, 5 / 3600, 5 / 60, 0.5, 2, 5, 10, 14, 20, 24]


def test_endpoint_policy_wins_then_event_type_default_then_global(tmp_path: Path) -> None:
    policies = load_retry_policies(
        write(
            tmp_path,
            """
            default = "a"
            [policies.a]
            schedule = ["0s", "1s"]
            [policies.b]
            schedule = ["0s", "2s"]
            [policies.c]
            kind = "exponential"
            initial_interval = "1s"
            maximum_interval = "10s"
            maximum_attempts = 3
            deadline = "1h"
            [event_type_defaults]
            "peer.left" = "b"
            """,
        )
    )

    assert policies.resolve(endpoint_policy="c", event_type="peer.left").policy == "c"
    assert policies.resolve(endpoint_policy=None, event_type="peer.left").policy == "b"
    assert policies.resolve(endpoint_policy=None, event_type="room.created").policy == "a"
    assert policies.resolve(endpoint_policy="removed", event_type="room.created").policy == "a"
    exponential = policies.resolve(endpoint_policy="c", event_type="room.created")
    assert (exponential.kind, exponential.maximum_attempts, exponential.deadline_seconds) == (
        "exponential",
        3,
        3600,
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('default = "x"\n[policies.a]\nschedule = ["0s"]', "default policy 'x'"),
        ('default = "a"\n[policies.a]\nschedule = ["5s"]', "first attempt is immediate"),
        ('default = "a"\n[policies.a]\nschedule = ["0s", "soon"]', "policies.a.schedule.1"),
        ('default = "a"\n[policies.a]\nschedule = ["0s"]\nretries = 3', "retries"),
        ('default = "a"\n[policies.a]\nkind = "linear"', "policies.a"),
        (
            'default = "a"\n[policies.a]\nschedule = ["0s"]\n[event_type_defaults]\n"room.x" = "a"',
            "room.x",
        ),
        (
            'default = "a"\n[policies.a]\nschedule = ["0s"]\n'
            '[event_type_defaults]\n"room.closed" = "z"',
            "'z'",
        ),
        ("default = [", "not valid TOML"),
    ],
)
def test_invalid_policy_file_is_refused_with_a_clear_message(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(RetryPolicyError) as refused:
        load_retry_policies(write(tmp_path, text))

    assert complaint in str(refused.value)


def test_missing_policy_file_is_named() -> None:
    with pytest.raises(RetryPolicyError, match="does not exist"):
        load_retry_policies(Path("/nonexistent/policies.toml"))


def test_durations_parse_in_every_unit() -> None:
    assert [parse_duration(text) for text in ("250ms", "5s", "5m", "2h", "1d", "1.5h")] == [
        timedelta(milliseconds=250),
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(hours=2),
        timedelta(days=1),
        timedelta(minutes=90),
    ]


def test_schedule_delays_are_jittered_within_the_policy_bound() -> None:
    standard = load_retry_policies(PROJECT_ROOT / "retry_policies.toml").resolve(
        endpoint_policy=None, event_type="room.created"
    )

    delays = {next_delay(standard, 2) for _ in range(200)}

    assert all(timedelta(minutes=4.5) <= delay <= timedelta(minutes=5.5) for delay in delays)
    assert len(delays) > 100


def test_exponential_delays_grow_and_are_capped(tmp_path: Path) -> None:
    policies = load_retry_policies(
        write(
            tmp_path,
            'default = "e"\n[policies.e]\nkind = "exponential"\ninitial_interval = "1s"\n'
            'backoff = 3\nmaximum_interval = "20s"\nmaximum_attempts = 9',
        )
    )
    retry = policies.resolve(endpoint_policy=None, event_type="room.created")

    assert [next_delay(retry, n).total_seconds() for n in range(1, 6)] == [1, 3, 9, 20, 20]


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    assert parse_retry_after("120", now=now) == timedelta(seconds=120)
    assert parse_retry_after("Fri, 27 Nov 2026 12:01:00 GMT", now=now) == timedelta(seconds=60)
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now=now) == timedelta(0)
    assert parse_retry_after("99999999", now=now) == timedelta(days=1)
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None
