"""The store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from core import store
from core.delivery_writer import DeliveriesWrite, DeliveryWriter
from core.intake import EventIntake
from tests.rows import Sessions, new_account, new_endpoint, new_event, taken_in


async def test_endpoints_are_scoped_to_their_account(sessions: Sessions) -> None:
    owner, _ = await new_account(sessions)
    other, _ = await new_account(sessions, "Other")
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
    account_id, _ = await new_account(sessions)
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
        await store.update_endpoint(session, endpoint=made["off"], changes={"disabled": True})

    async with sessions() as session:
        found = await store.subscribed_endpoints(
            session, account_id=account_id, event_type="room.created"
        )

    assert sorted(endpoint.url for endpoint in found) == [
        "https://example.com/all",
        "https://example.com/rooms",
    ]


async def test_an_idempotency_key_is_taken_once_per_account(sessions: Sessions) -> None:
    first_account, _ = await new_account(sessions)
    second_account, _ = await new_account(sessions, "Other")
    first = await new_event(sessions, first_account, key="k")

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
    elsewhere = await new_event(sessions, second_account, key="k")
    unkeyed = [await new_event(sessions, first_account) for _ in range(2)]

    assert clash is None
    assert found is not None and found.id == first.id
    assert elsewhere.id != first.id and len({event.id for event in unkeyed}) == 2


async def test_events_page_newest_first_and_filter(sessions: Sessions) -> None:
    account_id, _ = await new_account(sessions)
    events = [
        await new_event(sessions, account_id, kind="room.closed" if n % 2 else "room.created")
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


async def test_events_still_waiting_for_their_endpoints_are_listed_apart(
    sessions: Sessions, writer_engine: Engine
) -> None:
    account_id, _ = await new_account(sessions)
    waiting = await new_event(sessions, account_id)
    resolved = await new_event(sessions, account_id)
    # A worker's lookup of an event that goes to no endpoint still resolves it.
    await DeliveryWriter(writer_engine).add_deliveries(
        DeliveriesWrite(event_id=resolved.id, account_id=account_id, policies={}, skipped={})
    )

    async def listed(where: store.EventFilter) -> list[str]:
        async with sessions() as session:
            events, _ = await store.list_events(
                session, account_id=account_id, where=where, before=None, limit=10
            )
        return [event.id for event in events]

    assert await listed(store.EventFilter(resolved=False)) == [waiting.id]
    assert await listed(store.EventFilter(resolved=True)) == [resolved.id]
    assert await listed(store.EventFilter()) == [resolved.id, waiting.id]


async def test_an_event_is_invisible_until_its_workflow_started(
    sessions: Sessions, intake: EventIntake
) -> None:
    account_id, _ = await new_account(sessions)
    pending = await taken_in(intake, account_id, "k")
    assert pending is not None

    async with sessions() as session:
        hidden = await store.get_event(session, account_id=account_id, event_id=pending.id)
        listed, _ = await store.list_events(
            session, account_id=account_id, where=store.EventFilter(), before=None, limit=10
        )
        replayable = await store.event_by_idempotency_key(
            session, account_id=account_id, idempotency_key="k"
        )
    assert replayable is not None
    await intake.mark_started(replayable)
    async with sessions() as session:
        shown = await store.get_event(session, account_id=account_id, event_id=pending.id)

    assert (hidden, listed) == (None, [])
    assert replayable is not None and shown is not None


async def test_a_read_leaves_the_store_to_writers(sessions: Sessions) -> None:
    """On SQLite, where a transaction that may write holds the one write lock to its end."""
    account_id, _ = await new_account(sessions)
    async with store.read_transaction(sessions) as reading:
        before = await store.list_endpoints(reading, account_id=account_id)
        async with asyncio.timeout(5):
            await new_event(sessions, account_id)
        still = await store.list_endpoints(reading, account_id=account_id)
    assert before == still == []


async def test_every_event_lists_its_deliveries_in_the_same_endpoint_order(
    sessions: Sessions, writer_engine: Engine
) -> None:
    account_id, _ = await new_account(sessions)
    endpoints = [(await new_endpoint(sessions, account_id)).id for _ in range(3)]
    writer = DeliveryWriter(writer_engine)
    events = [await new_event(sessions, account_id) for _ in range(2)]
    for event, order in zip(events, (endpoints, endpoints[::-1]), strict=True):
        await writer.add_deliveries(
            DeliveriesWrite(
                event_id=event.id,
                account_id=account_id,
                policies=dict.fromkeys(order, "fast"),
                skipped={},
            )
        )

    async with store.read_transaction(sessions) as session:
        listed = await store.deliveries_of(session, event_ids=[event.id for event in events])

    assert [[d.endpoint_id for d in listed[event.id]] for event in events] == [
        sorted(endpoints)
    ] * 2
