"""Pagination shared by the lists: query parameters and the attempts page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from sqlmodel.ext.asyncio.session import AsyncSession

from core import store
from core.models import AttemptPublic, AttemptsPublic

PageSize = Annotated[int, Query(ge=1, le=200, description="How many items a page holds.")]
Cursor = Annotated[
    str | None, Query(description="The next_cursor of the previous page; omit for the first.")
]


async def attempts_page(
    session: AsyncSession,
    *,
    account_id: str,
    event_id: str | None = None,
    endpoint_id: str | None = None,
    cursor: str | None,
    limit: int,
) -> AttemptsPublic:
    attempts, next_cursor = await store.list_attempts(
        session,
        account_id=account_id,
        event_id=event_id,
        endpoint_id=endpoint_id,
        before=cursor,
        limit=limit,
    )
    return AttemptsPublic(
        data=[AttemptPublic.model_validate(attempt, from_attributes=True) for attempt in attempts],
        next_cursor=next_cursor,
    )
