"""Starting event workflows from the API, and linking to them in the Temporal UI."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import IntakeDep, SettingsDep, TemporalDep
from api.errors import TemporalUnavailableError
from core.config import Settings
from core.contracts import (
    DeliveryStatus,
    EventWorkflowInput,
    EventWorkflowResult,
    RecoverInput,
    RecoverResult,
    event_search_attributes,
    event_workflow_id,
    recover_workflow_id,
    resend_workflow_id,
)
from core.intake import EventIntake
from core.models import Endpoint, Event
from core.tracing import traced_event
from workflows.event import EventWorkflow
from workflows.recover import RecoverWorkflow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resend:
    handle: WorkflowHandle[EventWorkflow, EventWorkflowResult]
    already_running: bool
    replaced: bool = False
    """A resend waiting to retry was stopped, and this one sends now in its place."""


@dataclass(frozen=True)
class WorkflowStarter:
    temporal: Client
    settings: Settings
    intake: EventIntake

    def workflow_url(self, workflow_id: str) -> str:
        base = self.settings.temporal_ui_url.rstrip("/")
        return f"{base}/namespaces/{quote(self.temporal.namespace)}/workflows/{quote(workflow_id)}"

    async def accept(
        self, session: AsyncSession, event: Event, *, new: bool, endpoint_count: int, **options: Any
    ) -> None:
        """Make the stored event durable by starting its workflow, then mark it accepted.

        ``endpoint_count`` is the endpoints subscribed when the event was stored, for the
        workflow's summary. A new event whose workflow cannot be started is deleted again:
        not durable means not accepted. A replayed one (same idempotency key) stays for the
        caller's retry.
        """
        await _release(session)
        try:
            await self.start(event, endpoint_count=endpoint_count, **options)
        except TemporalUnavailableError:
            if new:
                await self.intake.forget(event)
            raise
        try:
            await self.intake.mark_started(event)
        except DBAPIError as error:
            # The workflow exists, so the event is durable and will be delivered; its first
            # activity marks it accepted once the store is back. Refusing now would invite
            # the caller to emit it twice.
            logger.warning("event %s accepted; marking it failed for now: %s", event.id, error)

    async def start(
        self,
        event: Event,
        *,
        endpoint_ids: list[str] | None = None,
        single_attempt: bool = False,
        endpoint_count: int,
    ) -> WorkflowHandle[EventWorkflow, EventWorkflowResult]:
        """Start the event's workflow once; a start that already happened counts as done."""
        options: dict[str, Any] = {
            # An event id is used once, even after its workflow closed and left history.
            "id": event_workflow_id(event.id),
            "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        }
        return await self._start(
            event,
            options,
            endpoint_ids=endpoint_ids,
            single_attempt=single_attempt,
            endpoint_count=endpoint_count,
        )

    async def resend(self, session: AsyncSession, event: Event, endpoint_id: str) -> Resend:
        """Deliver the event to one endpoint now, again.

        A resend whose attempt is under way is reused, not doubled, and said to be. One
        waiting to retry is stopped and replaced: whoever resends wants it sent now, not at
        the next step of a schedule that may be hours away.
        """
        await _release(session)
        workflow_id = resend_workflow_id(event.id, endpoint_id)
        current = self.temporal.get_workflow_handle_for(EventWorkflow.run, workflow_id)
        replace = False
        if await self._running(current):
            if not await self._waiting_to_retry(current):
                return Resend(current, already_running=True)
            replace = True
        options: dict[str, Any] = {
            "id": workflow_id,
            "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            # Two requests at once: the second finds the first's run.
            "id_conflict_policy": (
                WorkflowIDConflictPolicy.TERMINATE_EXISTING
                if replace
                else WorkflowIDConflictPolicy.USE_EXISTING
            ),
        }
        handle = await self._start(
            event, options, endpoint_ids=[endpoint_id], single_attempt=False, endpoint_count=1
        )
        return Resend(handle, already_running=False, replaced=replace)

    async def _waiting_to_retry(
        self, handle: WorkflowHandle[EventWorkflow, EventWorkflowResult]
    ) -> bool:
        """Whether the run's delivery waits for its next attempt, none being under way. A
        run that cannot say (no worker answers) counts as busy: nothing is sent twice."""
        try:
            states = await handle.query(
                EventWorkflow.deliveries,
                rpc_timeout=timedelta(seconds=self.settings.temporal_rpc_timeout_seconds),
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
            logger.info("resend %s did not answer its query: %s", handle.id, error)
            return False
        now = datetime.now(UTC)
        return any(
            state.status == DeliveryStatus.DELIVERING
            and state.next_attempt_at is not None
            and state.next_attempt_at > now
            for state in states
        )

    async def _running(self, handle: WorkflowHandle[EventWorkflow, EventWorkflowResult]) -> bool:
        try:
            described = await handle.describe(
                rpc_timeout=timedelta(seconds=self.settings.temporal_rpc_timeout_seconds)
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _unavailable(error) from error
        return described.status == WorkflowExecutionStatus.RUNNING

    async def recover(
        self, session: AsyncSession, endpoint: Endpoint, since: datetime
    ) -> WorkflowHandle[RecoverWorkflow, RecoverResult]:
        """Start redelivering what the endpoint failed or skipped since ``since``; the same
        request again returns the same run, while it goes on and after it finished."""
        await _release(session)
        workflow_id = recover_workflow_id(endpoint.id, since)
        try:
            return await self.temporal.start_workflow(
                RecoverWorkflow.run,
                RecoverInput(
                    account_id=endpoint.account_id,
                    endpoint_id=endpoint.id,
                    since=since,
                    search_attributes=self.settings.search_attributes,
                ),
                id=workflow_id,
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"recover {endpoint.url} since {since.isoformat()}",
                rpc_timeout=timedelta(seconds=self.settings.temporal_rpc_timeout_seconds),
            )
        except WorkflowAlreadyStartedError:
            return self.temporal.get_workflow_handle_for(RecoverWorkflow.run, workflow_id)
        except (RPCError, RuntimeError) as error:
            raise _unavailable(error) from error

    async def _start(
        self,
        event: Event,
        options: dict[str, Any],
        *,
        endpoint_ids: list[str] | None,
        single_attempt: bool,
        endpoint_count: int,
    ) -> WorkflowHandle[EventWorkflow, EventWorkflowResult]:
        try:
            with traced_event(event.id):
                return await self.temporal.start_workflow(
                    EventWorkflow.run,
                    EventWorkflowInput(
                        event_id=event.id,
                        account_id=event.account_id,
                        event_type=event.type,
                        endpoint_ids=endpoint_ids,
                        single_attempt=single_attempt,
                        search_attributes=self.settings.search_attributes,
                        local_first_attempts=True,
                    ),
                    task_queue=self.settings.task_queue,
                    search_attributes=(
                        event_search_attributes(event.type, event.account_id)
                        if self.settings.search_attributes
                        else None
                    ),
                    # The count is the endpoints subscribed when the event came; the workflow's
                    # details and its deliveries query follow the actual deliveries.
                    static_summary=(
                        f"{event.type} for account {event.account_id} to "
                        f"{endpoint_count} endpoint{'' if endpoint_count == 1 else 's'}"
                    ),
                    rpc_timeout=timedelta(seconds=self.settings.temporal_rpc_timeout_seconds),
                    **options,
                )
        except WorkflowAlreadyStartedError:
            return self.temporal.get_workflow_handle_for(EventWorkflow.run, options["id"])
        except (RPCError, RuntimeError) as error:
            raise _unavailable(error) from error


def _unavailable(error: Exception) -> TemporalUnavailableError:
    return TemporalUnavailableError(str(error) or type(error).__name__)


async def _release(session: AsyncSession) -> None:
    """End the session's transaction before calling Temporal: on SQLite any open
    transaction holds the store's one write lock, and Temporal may take seconds to answer."""
    await session.commit()


async def get_starter(
    temporal: TemporalDep, settings: SettingsDep, intake: IntakeDep
) -> WorkflowStarter:
    return WorkflowStarter(temporal=temporal, settings=settings, intake=intake)


StarterDep = Annotated[WorkflowStarter, Depends(get_starter)]
