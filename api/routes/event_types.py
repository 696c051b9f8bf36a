from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentAccount, PoliciesDep
from core.catalog import EVENT_TYPES, OPERATIONAL_EVENT_TYPES, EventType
from core.models import EventTypePublic, EventTypesPublic, RetryPolicyPublic

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/event-types", summary="The event types, their descriptions and data schemas")
async def list_event_types(_account: CurrentAccount) -> EventTypesPublic:
    def shown(event_type: EventType) -> EventTypePublic:
        return EventTypePublic(
            name=event_type.name,
            description=event_type.description,
            schema=event_type.schema,
            example=event_type.example,
        )

    return EventTypesPublic(
        data=[shown(event_type) for event_type in EVENT_TYPES],
        operational=[shown(event_type) for event_type in OPERATIONAL_EVENT_TYPES],
    )


@router.get("/retry-policies", summary="The named retry policies an endpoint can choose")
async def list_retry_policies(
    _account: CurrentAccount, policies: PoliciesDep
) -> list[RetryPolicyPublic]:
    return [
        RetryPolicyPublic(
            name=name,
            description=policies.policies[name].description,
            default=name == policies.default,
        )
        for name in policies.names
    ]
