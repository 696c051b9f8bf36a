"""The lookup's rows handed to the event's first attempts, over real HTTP and the store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryActivities
from activities.endpoints import EndpointActivities
from activities.handoff import LookupHandoff
from core import store
from core.contracts import DeliveryInput, SubscribersInput
from core.delivery_writer import DeliveryWriter
from core.models import Endpoint, Event
from core.retry import load_retry_policies
from tests.conftest import make_settings
from tests.receiver import Receiver
from tests.rows import new_account, new_endpoint, new_event


def _rows(event_id: str, endpoint_id: str) -> tuple[Event, Endpoint]:
    event = Event(id=event_id, account_id="acct_1", type="room.created", data={})
    endpoint = Endpoint(id=endpoint_id, account_id="acct_1", url="https://a.example", secret="s")
    return event, endpoint


def test_rows_are_handed_over_once() -> None:
    handoff = LookupHandoff()
    event, endpoint = _rows("msg_1", "ep_1")
    handoff.put(event, [endpoint])

    assert handoff.take("msg_1", "ep_1") == (event, endpoint)
    assert handoff.take("msg_1", "ep_1") is None
    assert handoff.take("msg_1", "ep_2") is None


def test_old_or_surplus_rows_are_forgotten() -> None:
    stale = LookupHandoff(max_age_seconds=0.0)
    stale.put(*_one("msg_1", "ep_1"))
    assert stale.take("msg_1", "ep_1") is None

    bounded = LookupHandoff(max_entries=2)
    for number in range(5):
        bounded.put(*_one(f"msg_{number}", "ep_1"))
    assert len(bounded) == 2
    assert bounded.take("msg_0", "ep_1") is None
    assert bounded.take("msg_4", "ep_1") is not None


def _one(event_id: str, endpoint_id: str) -> tuple[Event, list[Endpoint]]:
    event, endpoint = _rows(event_id, endpoint_id)
    return event, [endpoint]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_local_first_attempt_uses_the_rows_its_lookup_read(
    sessions: async_sessionmaker[AsyncSession],
    writer_engine: Engine,
    receiver: Receiver,
    store_url: str,
) -> None:
    """Proved by a change made between lookup and attempt: the local attempt does not see
    it, an ordinary attempt, which reads the store, does."""
    settings = make_settings(store_url)
    handoff = LookupHandoff()
    policies = load_retry_policies(settings.retry_policies_file)
    account_id, _ = await new_account(sessions)
    endpoint = await new_endpoint(sessions, account_id, receiver.url("/before"))
    events = [await new_event(sessions, account_id) for _ in range(2)]
    writer = DeliveryWriter(writer_engine)
    lookups = EndpointActivities(
        sessions=sessions,
        reads=store.reads_only(writer_engine),
        writer=writer,
        policies=policies,
        attempt_timeout=timedelta(seconds=5),
        handoff=handoff,
    )
    local = ActivityEnvironment()
    local.info = dataclasses.replace(local.info, is_local=True)
    found = [
        await local.run(
            lookups.subscribers_for,
            SubscribersInput(event_id=e.id, account_id=account_id, event_type=e.type),
        )
        for e in events
    ]
    assert len(handoff) == 2
    async with store.transaction(sessions) as session:
        await store.update_endpoint(
            session, endpoint=endpoint, changes={"url": receiver.url("/after")}
        )

    async with httpx.AsyncClient() as http:
        deliveries = DeliveryActivities(
            sessions=sessions,
            writer=writer,
            http=http,
            attempt_timeout=timedelta(seconds=5),
            destinations=settings.destination_policy(),
            handoff=handoff,
        )
        first, ordinary = (
            DeliveryInput(event_id=e.id, endpoint_id=endpoint.id, retry=result.subscribers[0].retry)
            for e, result in zip(events, found, strict=True)
        )
        await local.run(deliveries.deliver, first)
        await ActivityEnvironment().run(deliveries.deliver, ordinary)

    assert [request.path for request in receiver.requests] == ["/before", "/after"]
    # The ordinary attempt left its handed rows alone: only a local attempt takes them.
    assert len(handoff) == 1
