from __future__ import annotations

from fastapi import APIRouter, Depends, status

from api.deps import SessionDep, require_admin
from core import store
from core.models import AccountCreate, AccountCreated

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_admin)],
    summary="Create an account and its API key (admin token required)",
)
async def create_account(body: AccountCreate, session: SessionDep) -> AccountCreated:
    account, api_key = await store.create_account(session, name=body.name)
    await session.commit()
    return AccountCreated(
        id=account.id, name=account.name, api_key=api_key, created_at=account.created_at
    )
