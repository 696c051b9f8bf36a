"""The store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import store
from core.contracts import DeliveryStatus
from core.ids import new_id
from core.models import Attempt, Event

Sessions = async_sessionmaker[AsyncSession]


async def _account(sessions: Sessions, name: str = "Acme") -> tuple[str, str]:
    async with store.transaction(sessions) as session:
        account, api_key = await store.create_account(session, name=name)
    return account.id, api_key


async def _event(
    sessions: Sessions, account_id: str, key: str | None = None, kind: str = "room.created"
) -> Event:
    async with store.transaction(sessions) as session:
        event = await store.create_event(
            session, account_id=account_id, event_type=kind, data={"n": 1}, idempotency_key=key
        )
        assert event is not None
        await store.mark_workflow_started(session, event=event)
    return event


async def test_api_key_finds_its_account_and_no_other(sessions: Sessions) -> None:
    account_id, api_key = await _account(sessions)
    await _account(sessions, "Other")

    async with sessions() as session:
        found = await store.account_for_api_key(session, api_key=api_key)
        missing = await store.account_for_api_key(session, api_key=api_key + "x")

    assert found is not None and found.id == account_id
    assert missing is None


async def test_endpoints_are_scoped_to_their_account(sessions: Sessions) -> None:
    owner, _ = await _account(sessions)
    other, _ = await _account(sessions, "Other")
    async with store.transaction(sessions) as session:
        endpoint = await store.create_endpoint(
            session,
            account_id=owner,
            url="https://example.com/h",
            event_types=["room.created", "room.created", "peer.left"],
            description="",
            retry_policy=None,
        )

    async with sessions() as session:
        assert await store.get_endpoint(session, account_id=other, endpoint_id=endpoint.id) is None
        mine = await store.get_endpoint(session, account_id=owner, endpoint_id=endpoint.id)
        assert await store.list_endpoints(session, account_id=other) == []
    assert mine is not None and mine.event_types == ["room.created", "peer.left"]
    assert mine.created_at.tzinfo is not None


async def test_subscribers_are_enabled_endpoints_wanting_the_type(sessions: Sessions) -> None:
    account_id, _ = await _account(sessions)
    async with store.transaction(sessions) as session:
        made = {
            name: await store.create_endpoint(
                session,
                account_id=account_id,
                url=f"https://example.com/{name}",
                event_types=types,
                description="",
                retry_policy=None,
            )
            for name, types in (
                ("all", []),
                ("rooms", ["room.created"]),
                ("peers", ["peer.left"]),
                ("off", []),
            )
        }
        await store.disable_endpoint(session, endpoint_id=made["off"].id, reason="test")

    async with sessions() as session:
        found = await store.subscribed_endpoints(
            session, account_id=account_id, event_type="room.created"
        )

    assert sorted(endpoint.url for endpoint in found) == [
        "https://example.com/all",
        "https://example.com/rooms",
    ]


async def test_an_idempotency_key_is_taken_once_per_account(sessions: Sessions) -> None:
    first_account, _ = await _account(sessions)
    second_account, _ = await _account(sessions, "Other")
    first = await _event(sessions, first_account, key="k")

    async with store.transaction(sessions) as session:
        clash = await store.create_event(
            session,
            account_id=first_account,
            event_type="room.created",
            data={},
            idempotency_key="k",
        )
        found = await store.event_by_idempotency_key(
            session, account_id=first_account, idempotency_key="k"
        )
    elsewhere = await _event(sessions, second_account, key="k")
    unkeyed = [await _event(sessions, first_account) for _ in range(2)]

    assert clash is None
    assert found is not None and found.id == first.id
    assert elsewhere.id != first.id and len({event.id for event in unkeyed}) == 2


async def test_events_page_newest_first_and_filter(sessions: Sessions) -> None:
    account_id, _ = await _account(sessions)
    events = [
        await _event(sessions, account_id, kind="room.closed" if n % 2 else "room.created")
        for n in range(5)
    ]

    async with sessions() as session:
        first, cursor = await store.list_events(
            session, account_id=account_id, where=store.EventFilter(), before=None, limit=3
        )
        rest, end = await store.list_events(
            session, account_id=account_id, where=store.EventFilter(), before=cursor, limit=3
        )
        closed, _ = await store.list_events(
            session,
            account_id=account_id,
            where=store.EventFilter(event_type="room.closed"),
            before=None,
            limit=10,
        )
        future, _ = await store.list_events(
            session,
            account_id=account_id,
            where=store.EventFilter(since=datetime.now(UTC) + timedelta(minutes=1)),
            before=None,
            limit=10,
        )

    newest_first = [event.id for event in reversed(events)]
    assert [event.id for event in first + rest] == newest_first and end is None
    assert [event.id for event in closed] == [events[3].id, events[1].id]
    assert future == []


async def test_an_event_is_invisible_until_its_workflow_started(sessions: Sessions) -> None:
    account_id, _ = await _account(sessions)
    async with store.transaction(sessions) as session:
        pending = await store.create_event(
            session, account_id=account_id, event_type="room.created", data={}, idempotency_key="k"
        )
    assert pending is not None

    async with sessions() as session:
        hidden = await store.get_event(session, account_id=account_id, event_id=pending.id)
        listed, _ = await store.list_events(
            session, account_id=account_id, where=store.EventFilter(), before=None, limit=10
        )
        replayable = await store.event_by_idempotency_key(
            session, account_id=account_id, idempotency_key="k"
        )
    async with store.transaction(sessions) as session:
        assert replayable is not None
        await store.mark_workflow_started(session, event=replayable)
    async with sessions() as session:
        shown = await store.get_event(session, account_id=account_id, event_id=pending.id)

    assert (hidden, listed) == (None, [])
    assert replayable is not None and shown is not None


async def test_deliveries_are_made_once_and_track_attempts(sessions: Sessions) -> None:
    account_id, _ = await _account(sessions)
    event = await _event(sessions, account_id)
    async with store.transaction(sessions) as session:
        await store.ensure_deliveries(
            session, event=event, policies={"ep_1": "fast", "ep_2": "fast"}
        )
        await store.ensure_deliveries(
            session, event=event, policies={"ep_1": "fast", "ep_2": "fast"}
        )
        for number, (code, status) in enumerate(
            ((500, DeliveryStatus.DELIVERING), (200, DeliveryStatus.DELIVERED)), 1
        ):
            stored = await store.record_attempt(
                session,
                attempt=Attempt(
                    id=new_id("atm"),
                    delivery_id="",
                    event_id=event.id,
                    endpoint_id="ep_1",
                    account_id=account_id,
                    attempt=0,
                    outcome="x",
                    status_code=code,
                    started_at=datetime.now(UTC),
                    duration_ms=1.5,
                ),
                status=status,
                next_attempt_at=None,
            )
            assert stored is not None and stored.attempt == number
        await store.mark_delivery_failed(
            session, event_id=event.id, endpoint_id="ep_1", error="late"
        )
        await store.mark_delivery_failed(
            session, event_id=event.id, endpoint_id="ep_2", error="gave up"
        )

    async with sessions() as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event.id]))[event.id]
        attempts, cursor = await store.list_attempts(
            session, account_id=account_id, event_id=event.id, before=None, limit=1
        )
        others, _ = await store.list_attempts(
            session, account_id="acct_other", event_id=event.id, before=None, limit=9
        )

    by_endpoint = {delivery.endpoint_id: delivery for delivery in deliveries}
    assert len(deliveries) == 2
    assert (
        by_endpoint["ep_1"].status,
        by_endpoint["ep_1"].attempts,
        by_endpoint["ep_1"].last_status_code,
    ) == (
        "delivered",
        2,
        200,
    )
    assert (by_endpoint["ep_2"].status, by_endpoint["ep_2"].last_error) == ("failed", "gave up")
    assert [attempt.attempt for attempt in attempts] == [2] and cursor is not None
    assert others == []


def _attempt(event: Event, endpoint_id: str, *, status_code: int) -> Attempt:
    return Attempt(
        id=new_id("atm"),
        delivery_id="",
        event_id=event.id,
        endpoint_id=endpoint_id,
        account_id=event.account_id,
        attempt=0,
        outcome="succeeded" if status_code < 300 else "failed",
        status_code=status_code,
        started_at=datetime.now(UTC),
        duration_ms=2.0,
    )


async def test_an_attempt_without_a_delivery_stores_nothing(sessions: Sessions) -> None:
    account_id, _ = await _account(sessions)
    event = await _event(sessions, account_id)
    async with store.transaction(sessions) as session:
        stored = await store.record_attempt(
            session,
            attempt=_attempt(event, "ep_none", status_code=200),
            status=DeliveryStatus.DELIVERED,
            next_attempt_at=None,
        )
    async with store.read_transaction(sessions) as session:
        attempts, _ = await store.list_attempts(
            session, account_id=account_id, event_id=event.id, before=None, limit=9
        )
    assert stored is None and attempts == []


async def test_a_success_after_failures_is_a_recovery(sessions: Sessions) -> None:
    account_id, _ = await _account(sessions)
    async with store.transaction(sessions) as session:
        endpoint = await store.create_endpoint(
            session,
            account_id=account_id,
            url="https://example.com/hook",
            event_types=[],
            description="",
            retry_policy=None,
        )
    down_at = datetime(2026, 1, 1, tzinfo=UTC)
    changes = []
    for succeeded in (True, False, False, True, True):
        async with store.transaction(sessions) as session:
            changes.append(
                await store.note_endpoint_health(
                    session,
                    endpoint_id=endpoint.id,
                    succeeded=succeeded,
                    at=down_at,
                    disable_after=timedelta(days=5),
                )
            )
            if not succeeded:
                failing = await store.get_endpoint(
                    session, account_id=account_id, endpoint_id=endpoint.id
                )
                assert failing is not None and failing.failing_since == down_at
    unchanged, recovered = store.HealthChange.UNCHANGED, store.HealthChange.RECOVERED
    assert changes == [unchanged, unchanged, unchanged, recovered, unchanged]
    async with store.read_transaction(sessions) as session:
        healthy = await store.get_endpoint(session, account_id=account_id, endpoint_id=endpoint.id)
    assert healthy is not None and healthy.failing_since is None


async def test_a_read_leaves_the_store_to_writers(sessions: Sessions) -> None:
    """On SQLite, where a transaction that may write holds the one write lock to its end."""
    account_id, _ = await _account(sessions)
    async with store.read_transaction(sessions) as reading:
        before = await store.list_endpoints(reading, account_id=account_id)
        async with asyncio.timeout(5):
            await _event(sessions, account_id)
        still = await store.list_endpoints(reading, account_id=account_id)
    assert before == still == []
