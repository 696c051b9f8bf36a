"""Dependencies the routes declare: settings, a store session, Temporal, the caller's account."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from core.config import Settings
from core.intake import EventIntake
from core.models import Account
from core.retry import RetryPolicies

_bearer = HTTPBearer(auto_error=False, description="An account's API key, or the admin token.")

# Dependencies are coroutines even where they only read app state: FastAPI runs a plain
# function on its thread pool, and each such hop cost a request about 0.2 ms of CPU.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_policies(request: Request) -> RetryPolicies:
    policies: RetryPolicies = request.app.state.policies
    return policies


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_intake(request: Request) -> EventIntake:
    intake: EventIntake = request.app.state.intake
    return intake


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoliciesDep = Annotated[RetryPolicies, Depends(get_policies)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
IntakeDep = Annotated[EventIntake, Depends(get_intake)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def get_current_account(intake: IntakeDep, credentials: CredentialsDep) -> Account:
    if credentials is None:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <api key>'")
    # A transaction of its own that only reads: on SQLite a route's writes then hold the one
    # write lock only for as long as they take, not from the moment the caller is known.
    account = await intake.account_for_api_key(credentials.credentials)
    if account is None:
        raise _unauthorized("invalid API key")
    return account


async def require_admin(settings: SettingsDep, credentials: CredentialsDep) -> None:
    if credentials is None:
        raise _unauthorized("missing admin token: send 'Authorization: Bearer <admin token>'")
    if not secrets.compare_digest(credentials.credentials.encode(), settings.admin_token.encode()):
        raise _unauthorized("invalid admin token")


CurrentAccount = Annotated[Account, Depends(get_current_account)]
