"""Which endpoints an event goes to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.handoff import LookupHandoff
from core import store
from core.automations import Automations
from core.catalog import validate_data
from core.contracts import (
    MAX_LOCAL_FIRST_ATTEMPTS,
    OperationalEvent,
    OperationalEventInput,
    RecoverableEvent,
    RecoverableInput,
    RecoverableResult,
    Subscriber,
    SubscribersInput,
    SubscribersResult,
)
from core.delivery_writer import DeliveriesWrite, DeliveryWriter
from core.models import Endpoint, Event
from core.retry import RetryPolicies


@dataclass(frozen=True)
class _Found:
    event: Event | None
    endpoints: list[Endpoint] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Endpoint id -> why the event is not sent there."""


class EndpointActivities:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        reads: Engine,
        writer: DeliveryWriter,
        policies: RetryPolicies,
        attempt_timeout: timedelta,
        automations: Automations | None = None,
        handoff: LookupHandoff | None = None,
    ) -> None:
        self._sessions = sessions
        self._reads = reads
        self._writer = writer
        self._handoff = handoff
        self._policies = policies
        self._attempt_timeout = attempt_timeout
        self._automations = automations or Automations()

    @activity.defn
    async def subscribers_for(self, request: SubscribersInput) -> SubscribersResult:
        """The endpoints the event goes to, each with its resolved retry policy.

        Normally the account's enabled endpoints subscribed to the type; for a resend or a
        test, exactly the endpoints named. Records a pending delivery per endpoint, and the
        event as resolved, before it answers, so the event's page lists every endpoint it is
        going to from the moment the lookup is done.
        """
        # Read on a thread, in one call: on a busy event loop, a read made statement by
        # statement waits for the loop between statements. The deliveries are then written
        # with the worker's other writes, in one short transaction.
        found = await asyncio.to_thread(self._read_subscribers, request)
        event, endpoints = found.event, found.endpoints
        if event is None:
            raise ApplicationError(f"event {request.event_id} does not exist", non_retryable=True)
        subscribers = [
            Subscriber(
                endpoint_id=endpoint.id,
                url=endpoint.url,
                retry=(
                    RetryPolicies.single_attempt()
                    if request.single_attempt
                    else self._policies.resolve(
                        endpoint_policy=endpoint.retry_policy, event_type=request.event_type
                    )
                ),
            )
            for endpoint in endpoints
        ]
        await self._writer.add_deliveries(
            DeliveriesWrite(
                event_id=event.id,
                account_id=event.account_id,
                policies={s.endpoint_id: s.retry.policy for s in subscribers},
                skipped=found.skipped,
                restart=request.endpoint_ids is not None,
            )
        )
        if (
            self._handoff is not None
            and activity.info().is_local
            and len(endpoints) <= MAX_LOCAL_FIRST_ATTEMPTS
        ):
            # The first attempts run next, as local activities here, and need these rows.
            self._handoff.put(event, endpoints)
        return SubscribersResult(
            subscribers=subscribers,
            attempt_timeout_seconds=self._attempt_timeout.total_seconds(),
            automations=self._automations.for_event_type(request.event_type),
        )

    def _read_subscribers(self, request: SubscribersInput) -> _Found:
        """The event and the endpoints it goes to, as the lookup's one read."""
        with Session(self._reads, expire_on_commit=False) as session, session.begin():
            event = session.get(Event, request.event_id)
            if event is None:
                return _Found(event=None)
            if request.endpoint_ids is not None:
                named = store.endpoints_by_id_query(
                    account_id=request.account_id, endpoint_ids=request.endpoint_ids
                )
                return _Found(event, list(session.exec(named).all()))
            everyone = store.account_endpoints_query(
                account_id=request.account_id, include_disabled=True
            )
            subscribed = store.subscribers_among(session.exec(everyone).all(), request.event_type)
        return _Found(
            event,
            endpoints=[e for e in subscribed if e.disabled_at is None],
            skipped={
                e.id: f"the endpoint was disabled: {e.disabled_reason}"
                for e in subscribed
                if e.disabled_at is not None
            },
        )

    @activity.defn
    async def recoverable_events(self, request: RecoverableInput) -> RecoverableResult:
        """A page of the events an endpoint failed or skipped since a time, oldest first."""
        async with store.read_transaction(self._sessions) as session:
            events = await store.recoverable_events(
                session,
                endpoint_id=request.endpoint_id,
                since=request.since,
                after_event_id=request.after_event_id,
                limit=request.limit,
            )
        return RecoverableResult(
            events=[RecoverableEvent(event_id=e.id, event_type=e.type) for e in events]
        )

    @activity.defn
    async def emit_operational_event(self, request: OperationalEventInput) -> OperationalEvent:
        """Store an operational event once per idempotency key; its workflow is started by
        the caller."""
        problems = validate_data(request.event_type, request.data)
        if problems:
            raise ApplicationError(
                f"operational event {request.event_type} is invalid: {problems}",
                non_retryable=True,
            )
        async with store.transaction(self._sessions) as session:
            event = await store.create_event(
                session,
                account_id=request.account_id,
                event_type=request.event_type,
                data=request.data,
                idempotency_key=request.idempotency_key,
            ) or await store.event_by_idempotency_key(
                session, account_id=request.account_id, idempotency_key=request.idempotency_key
            )
            assert event is not None
        return OperationalEvent(event_id=event.id, event_type=event.type)
