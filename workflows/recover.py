"""Recovering an endpoint: deliver again every event it failed or skipped since a time."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.endpoints import EndpointActivities
    from core.contracts import (
        EventWorkflowInput,
        RecoverableInput,
        RecoverInput,
        RecoverResult,
        event_search_attributes,
        recovered_event_workflow_id,
    )
    from workflows.event import EventWorkflow

_PAGE = 200


@workflow.defn
class RecoverWorkflow:
    @workflow.run
    async def run(self, request: RecoverInput) -> RecoverResult:
        after, started = request.after_event_id, request.started
        while True:
            page = await workflow.execute_activity_method(
                EndpointActivities.recoverable_events,
                RecoverableInput(
                    endpoint_id=request.endpoint_id,
                    since=request.since,
                    after_event_id=after,
                    limit=_PAGE,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
            # One at a time, in the order the events were emitted; each delivery then runs
            # on its own schedule and outlives this workflow.
            for event in page.events:
                await workflow.start_child_workflow(
                    EventWorkflow.run,
                    EventWorkflowInput(
                        event_id=event.event_id,
                        account_id=request.account_id,
                        event_type=event.event_type,
                        endpoint_ids=[request.endpoint_id],
                        search_attributes=request.search_attributes,
                        local_first_attempts=True,
                    ),
                    id=recovered_event_workflow_id(
                        event.event_id, request.endpoint_id, request.since
                    ),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    search_attributes=(
                        event_search_attributes(event.event_type, request.account_id)
                        if request.search_attributes
                        else None
                    ),
                )
                after, started = event.event_id, started + 1
            if len(page.events) < _PAGE:
                return RecoverResult(endpoint_id=request.endpoint_id, started=started)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    RecoverInput(
                        account_id=request.account_id,
                        endpoint_id=request.endpoint_id,
                        since=request.since,
                        after_event_id=after,
                        started=started,
                        search_attributes=request.search_attributes,
                    )
                )
