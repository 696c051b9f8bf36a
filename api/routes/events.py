from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import CurrentAccount, SessionDep
from api.errors import data_errors, field_error
from api.limits import enforce_emit_rate
from api.routes.pages import Cursor, PageSize, attempts_page
from api.starter import StarterDep, WorkflowStarter
from core import metrics, store
from core.catalog import find_event_type, validate_data
from core.contracts import (
    DeliveryStatus,
    event_workflow_id,
)
from core.models import (
    AttemptsPublic,
    Delivery,
    DeliveryPublic,
    Event,
    EventCreate,
    EventPublic,
    EventsPublic,
    ResendAccepted,
    ResendRequest,
)

router = APIRouter(prefix="/v1/events", tags=["events"])

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same as the body's idempotency_key; the body's wins when both match.",
    ),
]


async def _shown(
    session: AsyncSession, events: list[Event], starter: WorkflowStarter
) -> list[EventPublic]:
    """The events as the API shows them, each with its deliveries as they stand."""
    deliveries = await store.deliveries_of(session, event_ids=[event.id for event in events])
    urls = await store.delivery_urls(session, [d for each in deliveries.values() for d in each])
    return [_public(event, deliveries[event.id], urls, starter) for event in events]


def _public(
    event: Event, deliveries: list[Delivery], urls: dict[str, str], starter: WorkflowStarter
) -> EventPublic:
    workflow_id = event_workflow_id(event.id)
    return EventPublic(
        id=event.id,
        type=event.type,
        data=event.data,
        idempotency_key=event.idempotency_key,
        workflow_id=workflow_id,
        workflow_url=starter.workflow_url(workflow_id),
        created_at=event.created_at,
        endpoints_resolved=event.endpoints_resolved,
        deliveries=[
            DeliveryPublic.model_validate(d, from_attributes=True).model_copy(
                update={"endpoint_url": urls.get(d.id)}
            )
            for d in deliveries
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Emit an event to every endpoint subscribed to its type",
    dependencies=[Depends(enforce_emit_rate)],
    responses={
        413: {"description": "The body is larger than the configured limit"},
        429: {"description": "The account emits faster than its rate limit; see Retry-After"},
        503: {"description": "Temporal is unreachable; the event was not accepted"},
    },
)
async def emit_event(
    body: EventCreate,
    response: Response,
    session: SessionDep,
    account: CurrentAccount,
    starter: StarterDep,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> EventPublic:
    if find_event_type(body.type) is None:
        raise field_error(
            ("body", "type"), f"unknown event type {body.type!r}", "event_type.unknown", body.type
        )
    problems = validate_data(body.type, body.data)
    if problems:
        raise data_errors(problems)
    key = body.idempotency_key or idempotency_key_header
    if (
        body.idempotency_key
        and idempotency_key_header
        and body.idempotency_key != idempotency_key_header
    ):
        raise field_error(
            ("header", "Idempotency-Key"),
            "differs from the body's idempotency_key; send one or make them equal",
            "idempotency_key.conflict",
        )

    created = await starter.intake.create_event(
        account_id=account.id, event_type=body.type, data=body.data, idempotency_key=key
    )
    if created is not None:
        await starter.accept(
            session, created.event, new=True, endpoint_count=created.subscriber_count
        )
        metrics.count_emit(created.event.type)
        # A new event's deliveries are recorded by its workflow, an instant from now.
        return _public(created.event, [], {}, starter)

    assert key is not None  # only a keyed event can collide
    event = await store.event_by_idempotency_key(
        session, account_id=account.id, idempotency_key=key
    )
    if event is None:  # pragma: no cover - the conflicting row was deleted meanwhile
        raise HTTPException(status.HTTP_409_CONFLICT, "idempotency key conflict; retry")
    if event.type != body.type or event.data != body.data:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"idempotency key {key!r} was already used for a different event ({event.id})",
        )
    if not event.workflow_started:
        subscribers = await store.subscribed_endpoints(
            session, account_id=account.id, event_type=event.type
        )
        await starter.accept(session, event, new=False, endpoint_count=len(subscribers))
    response.headers["Idempotent-Replayed"] = "true"
    (shown,) = await _shown(session, [event], starter)
    return shown


@router.get("", summary="The account's events, newest first")
async def list_events(
    session: SessionDep,
    account: CurrentAccount,
    starter: StarterDep,
    type: Annotated[str | None, Query(description="Only events of this type.")] = None,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only events with a delivery in this state.")
    ] = None,
    endpoint_id: Annotated[
        str | None, Query(description="Only events sent to this endpoint.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Only events emitted at or after this.")
    ] = None,
    until: Annotated[datetime | None, Query(description="Only events emitted before this.")] = None,
    resolved: Annotated[
        bool | None,
        Query(
            description="false: only events still waiting for a worker to find their "
            "endpoints; true: only those whose endpoints are found."
        ),
    ] = None,
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> EventsPublic:
    events, next_cursor = await store.list_events(
        session,
        account_id=account.id,
        where=store.EventFilter(
            event_type=type,
            status=status,
            endpoint_id=endpoint_id,
            since=since,
            until=until,
            resolved=resolved,
        ),
        before=cursor,
        limit=limit,
    )
    return EventsPublic(data=await _shown(session, events, starter), next_cursor=next_cursor)


async def _owned_event(session: SessionDep, account: CurrentAccount, event_id: str) -> Event:
    event = await store.get_event(session, account_id=account.id, event_id=event_id)
    if event is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event {event_id} not found")
    return event


@router.get("/{event_id}", summary="An event and the state of its delivery to each endpoint")
async def get_event(
    event_id: str, session: SessionDep, account: CurrentAccount, starter: StarterDep
) -> EventPublic:
    event = await _owned_event(session, account, event_id)
    (shown,) = await _shown(session, [event], starter)
    return shown


@router.get("/{event_id}/attempts", summary="The event's delivery attempts, newest first")
async def list_event_attempts(
    event_id: str,
    session: SessionDep,
    account: CurrentAccount,
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> AttemptsPublic:
    await _owned_event(session, account, event_id)
    return await attempts_page(
        session, account_id=account.id, event_id=event_id, cursor=cursor, limit=limit
    )


@router.post(
    "/{event_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Deliver an event to one endpoint again (same webhook-id, new attempts)",
)
async def resend_event(
    event_id: str,
    body: ResendRequest,
    session: SessionDep,
    account: CurrentAccount,
    starter: StarterDep,
) -> ResendAccepted:
    event = await _owned_event(session, account, event_id)
    endpoint = await store.get_endpoint(
        session, account_id=account.id, endpoint_id=body.endpoint_id
    )
    if endpoint is None:
        raise field_error(
            ("body", "endpoint_id"), f"endpoint {body.endpoint_id} not found", "endpoint.unknown"
        )
    if endpoint.disabled_at is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"endpoint {endpoint.id} is disabled; enable it to resend"
        )
    resend = await starter.resend(session, event, endpoint.id)
    return ResendAccepted(
        event_id=event.id,
        endpoint_id=endpoint.id,
        workflow_id=resend.handle.id,
        workflow_url=starter.workflow_url(resend.handle.id),
        already_running=resend.already_running,
        replaced=resend.replaced,
    )
