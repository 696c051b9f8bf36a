from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Response, status

from api.deps import CurrentAccount, PoliciesDep, SessionDep, SettingsDep
from api.errors import field_error
from api.routes.pages import Cursor, PageSize, attempts_page
from api.starter import StarterDep
from core import store
from core.catalog import TEST_EVENT_TYPE
from core.config import Settings
from core.contracts import event_workflow_id
from core.destinations import DestinationRefusedError
from core.models import (
    AttemptsPublic,
    Endpoint,
    EndpointCreate,
    EndpointPublic,
    EndpointSecret,
    EndpointsPublic,
    EndpointUpdate,
    EndpointWithSecret,
    RecoverAccepted,
    RecoverRequest,
    TestDelivery,
    utc_now,
)
from core.retry import RetryPolicies
from workflows.event import EventWorkflow

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])

Shown = TypeVar("Shown", bound=EndpointPublic)


def _check_retry_policy(name: str | None, policies: RetryPolicies) -> None:
    if name is not None and name not in policies.policies:
        raise field_error(
            ("body", "retry_policy"),
            f"unknown retry policy {name!r}; known policies: {', '.join(policies.names)}",
            "retry_policy.unknown",
            name,
        )


async def _check_destination(url: str, settings: Settings) -> None:
    try:
        await settings.destination_policy().check(url)
    except DestinationRefusedError as refusal:
        raise field_error(("body", "url"), str(refusal), "url.refused", url) from refusal


async def _owned_endpoint(
    session: SessionDep, account: CurrentAccount, endpoint_id: str
) -> Endpoint:
    endpoint = await store.get_endpoint(session, account_id=account.id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"endpoint {endpoint_id} not found")
    return endpoint


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register an endpoint")
async def create_endpoint(
    body: EndpointCreate,
    session: SessionDep,
    account: CurrentAccount,
    policies: PoliciesDep,
    settings: SettingsDep,
) -> EndpointWithSecret:
    _check_retry_policy(body.retry_policy, policies)
    await _check_destination(str(body.url), settings)
    endpoint = await store.create_endpoint(
        session,
        account_id=account.id,
        url=str(body.url),
        event_types=body.event_types,
        description=body.description,
        retry_policy=body.retry_policy,
    )
    await session.commit()
    return EndpointWithSecret.of(endpoint)


def _stats_since() -> datetime:
    return utc_now() - timedelta(hours=24)


async def _shown(session: SessionDep, endpoint: Endpoint, shape: type[Shown]) -> Shown:
    """The endpoint as the API shows it, with its last 24 hours' success rate."""
    stats = await store.attempt_stats(
        session, account_id=endpoint.account_id, since=_stats_since(), endpoint_id=endpoint.id
    )
    return shape.of(endpoint, stats.get(endpoint.id, (0, 0)))


@router.get("", summary="List the account's endpoints")
async def list_endpoints(session: SessionDep, account: CurrentAccount) -> EndpointsPublic:
    endpoints = await store.list_endpoints(session, account_id=account.id)
    stats = await store.attempt_stats(session, account_id=account.id, since=_stats_since())
    return EndpointsPublic(
        data=[
            EndpointPublic.of(endpoint, stats.get(endpoint.id, (0, 0))) for endpoint in endpoints
        ],
        count=len(endpoints),
    )


@router.get("/{endpoint_id}", summary="Read an endpoint")
async def get_endpoint(
    endpoint_id: str, session: SessionDep, account: CurrentAccount
) -> EndpointPublic:
    endpoint = await _owned_endpoint(session, account, endpoint_id)
    return await _shown(session, endpoint, EndpointPublic)


@router.patch("/{endpoint_id}", summary="Change an endpoint, or disable or enable it")
async def update_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    session: SessionDep,
    account: CurrentAccount,
    policies: PoliciesDep,
    settings: SettingsDep,
) -> EndpointPublic:
    endpoint = await _owned_endpoint(session, account, endpoint_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("url", "event_types", "description", "disabled"):
        if required in changes and changes[required] is None:
            raise field_error(("body", required), f"{required} cannot be null", "null_not_allowed")
    _check_retry_policy(changes.get("retry_policy"), policies)
    if "url" in changes:
        changes["url"] = str(body.url)
        await _check_destination(changes["url"], settings)
    endpoint = await store.update_endpoint(session, endpoint=endpoint, changes=changes)
    await session.commit()
    return await _shown(session, endpoint, EndpointPublic)


@router.delete(
    "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an endpoint"
)
async def delete_endpoint(
    endpoint_id: str, session: SessionDep, account: CurrentAccount
) -> Response:
    await store.delete_endpoint(
        session, endpoint=await _owned_endpoint(session, account, endpoint_id)
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpoint_id}/secret", summary="Read the endpoint's signing secret")
async def get_endpoint_secret(
    endpoint_id: str, session: SessionDep, account: CurrentAccount
) -> EndpointSecret:
    return EndpointSecret(secret=(await _owned_endpoint(session, account, endpoint_id)).secret)


@router.post("/{endpoint_id}/rotate-secret", summary="Replace the endpoint's signing secret")
async def rotate_endpoint_secret(
    endpoint_id: str, session: SessionDep, account: CurrentAccount, settings: SettingsDep
) -> EndpointWithSecret:
    endpoint = await store.rotate_endpoint_secret(
        session,
        endpoint=await _owned_endpoint(session, account, endpoint_id),
        grace=timedelta(hours=settings.secret_rotation_grace_hours),
    )
    await session.commit()
    return await _shown(session, endpoint, EndpointWithSecret)


@router.get("/{endpoint_id}/attempts", summary="The endpoint's delivery attempts, newest first")
async def list_endpoint_attempts(
    endpoint_id: str,
    session: SessionDep,
    account: CurrentAccount,
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> AttemptsPublic:
    await _owned_endpoint(session, account, endpoint_id)
    return await attempts_page(
        session, account_id=account.id, endpoint_id=endpoint_id, cursor=cursor, limit=limit
    )


@router.post(
    "/{endpoint_id}/test",
    summary="Send a webhook.test event to this endpoint alone and return what became of it",
)
async def send_test_event(
    endpoint_id: str, session: SessionDep, account: CurrentAccount, starter: StarterDep
) -> TestDelivery:
    endpoint = await _owned_endpoint(session, account, endpoint_id)
    if endpoint.disabled_at is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"endpoint {endpoint.id} is disabled; enable it to test it"
        )
    event = await store.create_event(
        session,
        account_id=account.id,
        event_type=TEST_EVENT_TYPE,
        data={"endpoint_id": endpoint.id, "message": "A test event from Teachstack Webhooks."},
        idempotency_key=None,
    )
    assert event is not None  # only a keyed event can collide
    await starter.accept(
        session,
        event,
        new=True,
        endpoint_count=1,
        endpoint_ids=[endpoint.id],
        single_attempt=True,
    )

    settings = starter.settings
    wait = settings.delivery_connect_timeout_seconds + settings.delivery_read_timeout_seconds + 10
    handle = starter.temporal.get_workflow_handle_for(
        EventWorkflow.run, event_workflow_id(event.id)
    )
    try:
        async with asyncio.timeout(wait):
            await handle.result()
    except TimeoutError:
        return TestDelivery(
            event_id=event.id,
            status="pending",
            status_code=None,
            duration_ms=None,
            response_body=None,
            error="no answer yet; the event's page shows the attempt when it is made",
        )
    attempts, _ = await store.list_attempts(
        session, account_id=account.id, event_id=event.id, before=None, limit=1
    )
    attempt = attempts[0] if attempts else None
    return TestDelivery(
        event_id=event.id,
        status="delivered" if attempt is not None and attempt.outcome == "succeeded" else "failed",
        status_code=attempt.status_code if attempt else None,
        duration_ms=attempt.duration_ms if attempt else None,
        response_body=attempt.response_body if attempt else None,
        error=attempt.error if attempt else "no attempt was made",
    )


@router.post(
    "/{endpoint_id}/recover",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Redeliver every event the endpoint failed or skipped since a time, in order",
)
async def recover_endpoint(
    endpoint_id: str,
    body: RecoverRequest,
    session: SessionDep,
    account: CurrentAccount,
    starter: StarterDep,
) -> RecoverAccepted:
    endpoint = await _owned_endpoint(session, account, endpoint_id)
    if endpoint.disabled_at is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"endpoint {endpoint.id} is disabled; enable it to recover"
        )
    since = body.since if body.since.tzinfo else body.since.replace(tzinfo=UTC)
    handle = await starter.recover(session, endpoint, since)
    return RecoverAccepted(
        endpoint_id=endpoint.id,
        since=since,
        workflow_id=handle.id,
        workflow_url=starter.workflow_url(handle.id),
    )
