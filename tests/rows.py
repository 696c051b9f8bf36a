"""Store rows for tests that need an account, an endpoint or an event to exist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import store
from core.intake import EventIntake
from core.models import Endpoint, Event

Sessions = async_sessionmaker[AsyncSession]


async def new_account(sessions: Sessions, name: str = "Acme") -> tuple[str, str]:
    """The account's id and its API key."""
    async with store.transaction(sessions) as session:
        account, api_key = await store.create_account(session, name=name)
    return account.id, api_key


async def new_endpoint(
    sessions: Sessions,
    account_id: str,
    url: str = "https://example.com/hook",
    event_types: Sequence[str] = (),
) -> Endpoint:
    async with store.transaction(sessions) as session:
        return await store.create_endpoint(
            session,
            account_id=account_id,
            url=url,
            event_types=event_types,
            description="",
            retry_policy=None,
        )


async def new_event(
    sessions: Sessions,
    account_id: str,
    key: str | None = None,
    kind: str = "room.created",
    data: dict[str, Any] | None = None,
) -> Event:
    """An accepted event: its workflow is taken to have started."""
    async with store.transaction(sessions) as session:
        event = await store.create_event(
            session,
            account_id=account_id,
            event_type=kind,
            data={"n": 1} if data is None else data,
            idempotency_key=key,
        )
        assert event is not None
        event.workflow_started = True
    return event


async def taken_in(intake: EventIntake, account_id: str, key: str | None = None) -> Event | None:
    """An event taken in as the API takes in an emit, its workflow not yet started; None
    when the idempotency key is already taken in the account."""
    created = await intake.create_event(
        account_id=account_id, event_type="room.created", data={}, idempotency_key=key
    )
    return None if created is None else created.event
