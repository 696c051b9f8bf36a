"""Storing deliveries and their attempts, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from core import store
from core.contracts import DeliveryStatus
from core.delivery_writer import (
    AttemptWrite,
    DeliveriesWrite,
    DeliveryWriter,
    HealthChange,
    StoredAttempt,
)
from core.ids import new_id
from core.models import Attempt, Endpoint, Event
from tests.rows import Sessions, new_account, new_endpoint, new_event


def _attempt(
    event: Event, endpoint_id: str, *, status_code: int | None, at: datetime | None = None
) -> Attempt:
    return Attempt(
        id=new_id("atm"),
        delivery_id="",
        event_id=event.id,
        endpoint_id=endpoint_id,
        account_id=event.account_id,
        attempt=0,
        outcome="succeeded" if status_code == 200 else "failed",
        status_code=status_code,
        scheduled_at=at,
        started_at=datetime.now(UTC),
        duration_ms=2.0,
    )


def _write(attempt: Attempt, *, next_attempt_at: datetime | None = None) -> AttemptWrite:
    status = (
        DeliveryStatus.DELIVERED if attempt.outcome == "succeeded" else DeliveryStatus.DELIVERING
    )
    return AttemptWrite(attempt=attempt, status=status, next_attempt_at=next_attempt_at)


async def _delivering(sessions: Sessions, engine: Engine, *endpoint_ids: str) -> Event:
    """An event with a pending delivery to each endpoint."""
    account_id = (await new_account(sessions))[0]
    event = await new_event(sessions, account_id)
    await DeliveryWriter(engine).add_deliveries(
        DeliveriesWrite(
            event_id=event.id,
            account_id=account_id,
            policies=dict.fromkeys(endpoint_ids, "fast"),
            skipped={},
        )
    )
    return event


async def _delivering_to_an_endpoint(
    sessions: Sessions, engine: Engine
) -> tuple[str, Endpoint, Event]:
    """An account, its endpoint and an event with a pending delivery to it."""
    account_id, _ = await new_account(sessions)
    endpoint = await new_endpoint(sessions, account_id)
    event = await new_event(sessions, account_id)
    await DeliveryWriter(engine).add_deliveries(
        DeliveriesWrite(
            event_id=event.id, account_id=account_id, policies={endpoint.id: "fast"}, skipped={}
        )
    )
    return account_id, endpoint, event


def _commits(engine: Engine) -> list[None]:
    commits: list[None] = []
    sa_event.listen(engine, "commit", lambda _connection: commits.append(None))
    return commits


async def test_attempts_are_numbered_per_delivery_and_settle_it(
    sessions: Sessions, writer_engine: Engine
) -> None:
    event = await _delivering(sessions, writer_engine, "ep_1", "ep_2")
    writer = DeliveryWriter(writer_engine)
    retry_at = datetime(2030, 1, 1, 12, tzinfo=UTC)

    failed = await writer.write(
        _write(_attempt(event, "ep_1", status_code=500), next_attempt_at=retry_at)
    )
    async with store.read_transaction(sessions) as session:
        waiting = await store.get_delivery(session, event_id=event.id, endpoint_id="ep_1")
    delivered = await writer.write(_write(_attempt(event, "ep_1", status_code=200)))
    async with store.transaction(sessions) as session:
        await store.mark_delivery_failed(
            session, event_id=event.id, endpoint_id="ep_1", error="late"
        )
        await store.mark_delivery_failed(
            session, event_id=event.id, endpoint_id="ep_2", error="gave up"
        )
    async with store.read_transaction(sessions) as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event.id]))[event.id]
        attempts, cursor = await store.list_attempts(
            session, account_id=event.account_id, event_id=event.id, before=None, limit=1
        )
        others, _ = await store.list_attempts(
            session, account_id="acct_other", event_id=event.id, before=None, limit=9
        )

    assert failed is not None and delivered is not None
    assert (failed.number, delivered.number) == (1, 2)
    assert waiting is not None
    assert (waiting.status, waiting.next_attempt_at) == ("delivering", retry_at)
    by_endpoint = {delivery.endpoint_id: delivery for delivery in deliveries}
    first = by_endpoint["ep_1"]
    assert (first.status, first.attempts, first.last_status_code) == ("delivered", 2, 200)
    assert first.next_attempt_at is None and first.delivered_at is not None
    assert (by_endpoint["ep_2"].status, by_endpoint["ep_2"].last_error) == ("failed", "gave up")
    assert [(attempt.attempt, attempt.delivery_id) for attempt in attempts] == [(2, first.id)]
    assert cursor is not None and others == []


async def test_an_attempt_without_a_delivery_stores_nothing(
    sessions: Sessions, writer_engine: Engine
) -> None:
    event = await _delivering(sessions, writer_engine)

    stored = await DeliveryWriter(writer_engine).write(
        _write(_attempt(event, "ep_none", status_code=200))
    )

    async with store.read_transaction(sessions) as session:
        attempts, _ = await store.list_attempts(
            session, account_id=event.account_id, event_id=event.id, before=None, limit=9
        )
    assert stored is None and attempts == []


async def test_a_success_after_failures_is_a_recovery(
    sessions: Sessions, writer_engine: Engine
) -> None:
    account_id, endpoint, event = await _delivering_to_an_endpoint(sessions, writer_engine)
    writer = DeliveryWriter(writer_engine, disable_after=timedelta(days=5))
    down_at = datetime(2026, 1, 1, tzinfo=UTC)

    changes = []
    failing_since = []
    for status_code in (200, 500, 503, 200, 200):
        attempt = _attempt(event, endpoint.id, status_code=status_code, at=down_at)
        stored = await writer.write(_write(attempt))
        assert stored is not None
        changes.append(stored.change)
        async with store.read_transaction(sessions) as session:
            found = await store.get_endpoint(
                session, account_id=account_id, endpoint_id=endpoint.id
            )
        assert found is not None
        failing_since.append(found.failing_since)

    unchanged, recovered = HealthChange.UNCHANGED, HealthChange.RECOVERED
    assert changes == [unchanged, unchanged, unchanged, recovered, unchanged]
    assert failing_since == [None, down_at, down_at, None, None]


async def test_an_endpoint_failing_past_the_window_is_disabled_once(
    sessions: Sessions, writer_engine: Engine
) -> None:
    account_id, endpoint, event = await _delivering_to_an_endpoint(sessions, writer_engine)
    writer = DeliveryWriter(writer_engine, disable_after=timedelta(days=5))
    down_at = datetime(2026, 1, 1, tzinfo=UTC)

    changes = []
    for days in (0, 4, 5, 6):
        attempt = _attempt(event, endpoint.id, status_code=500, at=down_at + timedelta(days=days))
        stored = await writer.write(_write(attempt))
        assert stored is not None
        changes.append(stored.change)
    async with store.read_transaction(sessions) as session:
        disabled = await store.get_endpoint(session, account_id=account_id, endpoint_id=endpoint.id)

    unchanged = HealthChange.UNCHANGED
    assert changes == [unchanged, unchanged, HealthChange.DISABLED, unchanged]
    assert disabled is not None and disabled.disabled_at is not None
    assert disabled.disabled_reason == "no successful delivery since 2026-01-01T00:00:00+00:00"


async def test_an_attempt_may_disable_its_endpoint(
    sessions: Sessions, writer_engine: Engine
) -> None:
    account_id, endpoint, event = await _delivering_to_an_endpoint(sessions, writer_engine)
    attempt = _attempt(event, endpoint.id, status_code=410).model_copy(update={"outcome": "gone"})

    stored = await DeliveryWriter(writer_engine).write(
        AttemptWrite(
            attempt=attempt,
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            disable_reason="the endpoint answered 410 Gone",
        )
    )

    async with store.read_transaction(sessions) as session:
        gone = await store.get_endpoint(session, account_id=account_id, endpoint_id=endpoint.id)
        delivery = await store.get_delivery(session, event_id=event.id, endpoint_id=endpoint.id)
    assert stored == StoredAttempt(number=1, change=HealthChange.DISABLED)
    assert gone is not None and gone.disabled_reason == "the endpoint answered 410 Gone"
    assert delivery is not None and delivery.status == "failed"


async def test_attempts_that_finish_together_share_one_transaction(
    sessions: Sessions, writer_engine: Engine
) -> None:
    endpoints = [f"ep_{number}" for number in range(40)]
    event = await _delivering(sessions, writer_engine, *endpoints)
    writer = DeliveryWriter(writer_engine)
    commits = _commits(writer_engine)

    stored = await asyncio.gather(
        *(writer.write(_write(_attempt(event, e, status_code=200))) for e in endpoints)
    )

    async with store.read_transaction(sessions) as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event.id]))[event.id]
    assert [attempt.number if attempt else None for attempt in stored] == [1] * len(endpoints)
    assert {delivery.status for delivery in deliveries} == {"delivered"}
    # The first write begins alone; the rest queue behind it and commit together.
    assert len(commits) <= 2


async def test_one_attempt_that_cannot_be_stored_fails_alone(
    sessions: Sessions, writer_engine: Engine
) -> None:
    event = await _delivering(sessions, writer_engine, "ep_1", "ep_2")
    writer = DeliveryWriter(writer_engine)
    first = _attempt(event, "ep_1", status_code=200)
    # The same attempt id twice: the second row cannot be inserted.
    clash = _attempt(event, "ep_2", status_code=200).model_copy(update={"id": first.id})

    results = await asyncio.gather(
        writer.write(_write(first)), writer.write(_write(clash)), return_exceptions=True
    )

    async with store.read_transaction(sessions) as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event.id]))[event.id]
    assert results[0] == StoredAttempt(number=1, change=HealthChange.UNCHANGED)
    assert isinstance(results[1], IntegrityError)
    by_endpoint = {d.endpoint_id: (d.status, d.attempts) for d in deliveries}
    assert by_endpoint == {"ep_1": ("delivered", 1), "ep_2": ("pending", 0)}


async def test_an_attempt_is_stored_though_its_caller_stops_waiting(
    sessions: Sessions, writer_engine: Engine
) -> None:
    event = await _delivering(sessions, writer_engine, "ep_1")
    writer = DeliveryWriter(writer_engine)

    waiting = asyncio.create_task(writer.write(_write(_attempt(event, "ep_1", status_code=200))))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    async with asyncio.timeout(10):
        while True:
            async with store.read_transaction(sessions) as session:
                delivery = await store.get_delivery(session, event_id=event.id, endpoint_id="ep_1")
            if delivery is not None and delivery.attempts == 1:
                break
            await asyncio.sleep(0.02)
    assert delivery.status == "delivered"


async def test_deliveries_are_recorded_once_however_often_the_lookup_runs(
    sessions: Sessions, writer_engine: Engine
) -> None:
    account_id, _ = await new_account(sessions)
    async with store.transaction(sessions) as session:
        # Its start not recorded, as when the API found the store down after starting it.
        event = await store.create_event(
            session, account_id=account_id, event_type="room.created", data={}, idempotency_key=None
        )
    assert event is not None
    writer = DeliveryWriter(writer_engine)
    lookup = DeliveriesWrite(
        event_id=event.id,
        account_id=account_id,
        policies={"ep_1": "fast", "ep_2": "slow"},
        skipped={"ep_off": "the endpoint was disabled: paused"},
    )

    await writer.add_deliveries(lookup)
    first = await writer.write(_write(_attempt(event, "ep_1", status_code=500)))
    # The lookup again, as a retried workflow task runs it: nothing recorded is undone.
    await asyncio.gather(writer.add_deliveries(lookup), writer.add_deliveries(lookup))

    async with store.read_transaction(sessions) as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event.id]))[event.id]
        shown = await store.get_event(session, account_id=account_id, event_id=event.id)
    by_endpoint = {
        d.endpoint_id: (d.status, d.retry_policy, d.attempts, d.last_error) for d in deliveries
    }
    assert first is not None and first.number == 1
    assert by_endpoint == {
        "ep_1": ("delivering", "fast", 1, None),
        "ep_2": ("pending", "slow", 0, None),
        "ep_off": ("skipped", "", 0, "the endpoint was disabled: paused"),
    }
    assert shown is not None and (shown.workflow_started, shown.endpoints_resolved) == (True, True)


async def test_a_resend_puts_its_deliveries_back_to_pending(
    sessions: Sessions, writer_engine: Engine
) -> None:
    event = await _delivering(sessions, writer_engine, "ep_1", "ep_2")
    writer = DeliveryWriter(writer_engine)
    await writer.write(_write(_attempt(event, "ep_1", status_code=200)))
    await writer.write(
        _write(_attempt(event, "ep_2", status_code=500), next_attempt_at=datetime.now(UTC))
    )

    await writer.add_deliveries(
        DeliveriesWrite(
            event_id=event.id,
            account_id=event.account_id,
            policies={"ep_1": "slow", "ep_3": "fast"},
            skipped={},
            restart=True,
        )
    )

    async with store.read_transaction(sessions) as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event.id]))[event.id]
    by_endpoint = {
        d.endpoint_id: (d.status, d.retry_policy, d.attempts, d.next_attempt_at is None)
        for d in deliveries
    }
    # Attempts keep counting on: a resend's attempts continue the delivery's numbering.
    assert by_endpoint == {
        "ep_1": ("pending", "slow", 1, True),
        "ep_2": ("delivering", "fast", 1, False),
        "ep_3": ("pending", "fast", 0, True),
    }
