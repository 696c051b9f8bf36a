"""The API's intake of events, on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from core import store
from core.intake import EventIntake
from core.models import Event
from tests.rows import Sessions, new_account, new_endpoint, taken_in


async def _stored(sessions: Sessions, event_id: str) -> Event | None:
    async with sessions() as session:
        return (await session.exec(select(Event).where(Event.id == event_id))).first()


async def test_an_api_key_finds_its_account_and_no_other(
    sessions: Sessions, intake: EventIntake
) -> None:
    account_id, api_key = await new_account(sessions)
    await new_account(sessions, "Other")

    found = await intake.account_for_api_key(api_key)

    assert found is not None and found.id == account_id
    assert await intake.account_for_api_key(api_key + "x") is None


async def test_a_new_event_is_stored_unstarted_with_its_subscribers_counted(
    sessions: Sessions, intake: EventIntake
) -> None:
    account_id, _ = await new_account(sessions)
    other_account, _ = await new_account(sessions, "Other")
    await new_endpoint(sessions, account_id, "https://example.com/all")
    await new_endpoint(sessions, account_id, "https://example.com/rooms", ["room.created"])
    await new_endpoint(sessions, account_id, "https://example.com/peers", ["peer.left"])
    off = await new_endpoint(sessions, account_id, "https://example.com/off")
    async with store.transaction(sessions) as session:
        await store.update_endpoint(session, endpoint=off, changes={"disabled": True})
    await new_endpoint(sessions, other_account, "https://example.com/theirs")

    created = await intake.create_event(
        account_id=account_id, event_type="room.created", data={"n": 1}, idempotency_key=None
    )

    assert created is not None and created.subscriber_count == 2
    stored = await _stored(sessions, created.event.id)
    assert stored is not None
    assert (stored.account_id, stored.type, stored.data) == (account_id, "room.created", {"n": 1})
    assert stored.workflow_started is False


async def test_an_idempotency_key_is_taken_once_per_account(
    sessions: Sessions, intake: EventIntake
) -> None:
    account_id, _ = await new_account(sessions)
    other_account, _ = await new_account(sessions, "Other")

    first = await taken_in(intake, account_id, "k")

    assert first is not None
    assert await taken_in(intake, account_id, "k") is None
    assert await taken_in(intake, other_account, "k") is not None
    assert await taken_in(intake, account_id) is not None
    assert await taken_in(intake, account_id) is not None


async def test_a_started_mark_is_stored_and_leaves_nothing_to_write(
    sessions: Sessions, intake: EventIntake
) -> None:
    account_id, _ = await new_account(sessions)
    created = await taken_in(intake, account_id, "k")
    assert created is not None

    async with sessions() as session:
        held = await store.event_by_idempotency_key(
            session, account_id=account_id, idempotency_key="k"
        )
        await session.commit()
        assert held is not None and held.workflow_started is False
        await intake.mark_started(held)

        assert held.workflow_started is True
        assert not session.dirty
    stored = await _stored(sessions, created.id)
    assert stored is not None and stored.workflow_started is True


async def test_a_forgotten_event_is_gone(sessions: Sessions, intake: EventIntake) -> None:
    account_id, _ = await new_account(sessions)
    created = await taken_in(intake, account_id, "k")
    assert created is not None

    await intake.forget(created)

    assert await _stored(sessions, created.id) is None
    assert await taken_in(intake, account_id, "k") is not None
