"""One emitted event: find the endpoints that want it, then deliver to each of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from activities.endpoints import EndpointActivities
    from core.contracts import (
        ATTEMPT_FAILED_SIGNAL,
        DELIVERIES_QUERY,
        ENDPOINT_IDS_ATTRIBUTE,
        MAX_CONCURRENT_DELIVERIES,
        MAX_SEARCHABLE_ENDPOINT_IDS,
        STATUS_ATTRIBUTE,
        AttemptReport,
        AutomationRule,
        DeliveryFailureInput,
        DeliveryInput,
        DeliveryReport,
        DeliveryRetry,
        DeliveryStatus,
        EndpointOutcome,
        EndpointState,
        EventStatus,
        EventWorkflowInput,
        EventWorkflowResult,
        OperationalEventInput,
        Subscriber,
        SubscribersInput,
        Trigger,
        automation_workflow_id,
        event_search_attributes,
        event_workflow_id,
    )

# Store lookups and bookkeeping retry until the store is back; only deliveries give up.
_STORE_TIMEOUT = timedelta(seconds=15)
_STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


def delivery_retry_policy(retry: DeliveryRetry) -> RetryPolicy:
    """Temporal's retry policy for one delivery.

    The activity sets ``next_retry_delay`` on every failure, so the intervals here apply
    only when an attempt ends without an answer of its own (a worker lost mid-request).
    """
    return RetryPolicy(
        initial_interval=timedelta(seconds=retry.initial_interval_seconds),
        backoff_coefficient=retry.backoff,
        maximum_interval=timedelta(seconds=retry.maximum_interval_seconds),
        maximum_attempts=retry.maximum_attempts,
    )


@workflow.defn
class EventWorkflow:
    def __init__(self) -> None:
        self._states: dict[str, EndpointState] = {}
        self._rules: list[AutomationRule] = []

    @workflow.query(name=DELIVERIES_QUERY)
    def deliveries(self) -> list[EndpointState]:
        """Each endpoint's delivery as it stands: attempts, last status, next retry."""
        return list(self._states.values())

    @workflow.signal(name=ATTEMPT_FAILED_SIGNAL)
    def attempt_failed(self, report: AttemptReport) -> None:
        state = self._states.get(report.endpoint_id)
        if state is not None and state.status != DeliveryStatus.DELIVERED:
            state.status = DeliveryStatus.DELIVERING
            state.attempts = max(state.attempts, report.attempt)
            state.last_status_code = report.status_code
            state.next_attempt_at = report.next_attempt_at

    @workflow.run
    async def run(self, event: EventWorkflowInput) -> EventWorkflowResult:
        found = await workflow.execute_activity_method(
            EndpointActivities.subscribers_for,
            SubscribersInput(
                event_id=event.event_id,
                account_id=event.account_id,
                event_type=event.event_type,
                endpoint_ids=event.endpoint_ids,
                single_attempt=event.single_attempt,
            ),
            start_to_close_timeout=_STORE_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )
        # Histories recorded before these attributes were kept current replay without them.
        searchable = event.search_attributes and workflow.patched("search-attributes-kept-current")
        if searchable:
            endpoint_ids = [s.endpoint_id for s in found.subscribers]
            workflow.upsert_search_attributes(
                [ENDPOINT_IDS_ATTRIBUTE.value_set(endpoint_ids[:MAX_SEARCHABLE_ENDPOINT_IDS])]
            )
        self._rules = found.automations
        self._states = {
            s.endpoint_id: EndpointState(endpoint_id=s.endpoint_id, url=s.url)
            for s in found.subscribers
        }
        self._describe_progress()
        attempt_timeout = timedelta(seconds=found.attempt_timeout_seconds)
        # Temporal caps the activities pending in one workflow; a semaphore keeps large
        # fan-outs under the cap while every delivery still runs its own retry schedule.
        slots = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        outcomes = await asyncio.gather(
            *(
                self._deliver(event, subscriber, attempt_timeout, slots)
                for subscriber in found.subscribers
            )
        )
        status = EventStatus.of([outcome.status for outcome in outcomes])
        if searchable:
            workflow.upsert_search_attributes([STATUS_ATTRIBUTE.value_set(status.value)])
        if found.automations:
            await self._automate_settled(event, status, outcomes)
        return EventWorkflowResult(event_id=event.event_id, outcomes=list(outcomes))

    async def _deliver(
        self,
        event: EventWorkflowInput,
        subscriber: Subscriber,
        attempt_timeout: timedelta,
        slots: asyncio.Semaphore,
    ) -> EndpointOutcome:
        retry = subscriber.retry
        async with slots:
            try:
                result = await workflow.execute_activity_method(
                    DeliveryActivities.deliver,
                    DeliveryInput(
                        event_id=event.event_id, endpoint_id=subscriber.endpoint_id, retry=retry
                    ),
                    start_to_close_timeout=attempt_timeout,
                    schedule_to_close_timeout=(
                        timedelta(seconds=retry.deadline_seconds)
                        if retry.deadline_seconds
                        else None
                    ),
                    retry_policy=delivery_retry_policy(retry),
                    summary=f"deliver to {subscriber.url}",
                )
            except ActivityError as failure:
                outcome = await self._settle_failed(event, subscriber, failure)
            else:
                outcome = EndpointOutcome(
                    endpoint_id=subscriber.endpoint_id,
                    status=DeliveryStatus.DELIVERED,
                    attempts=result.attempts,
                    status_code=result.status_code,
                    recovered=result.recovered,
                )
        self._states[subscriber.endpoint_id] = EndpointState(
            endpoint_id=subscriber.endpoint_id,
            url=subscriber.url,
            status=outcome.status,
            attempts=outcome.attempts,
            last_status_code=outcome.status_code,
        )
        self._describe_progress()
        await self._automate_outcome(event, subscriber, outcome)
        return outcome

    def _describe_progress(self) -> None:
        """The line the Temporal UI shows under the workflow's summary while it runs."""
        counts = Counter(state.status for state in self._states.values())
        settled = ", ".join(f"{counts[status]} {status}" for status in sorted(counts))
        workflow.set_current_details(f"{len(self._states)} endpoints: {settled or 'none'}")

    async def _settle_failed(
        self, event: EventWorkflowInput, subscriber: Subscriber, failure: ActivityError
    ) -> EndpointOutcome:
        cause = failure.cause
        message = str(cause) if cause is not None else str(failure)
        details = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else {}
        await workflow.execute_activity_method(
            DeliveryActivities.record_failure,
            DeliveryFailureInput(
                event_id=event.event_id, endpoint_id=subscriber.endpoint_id, error=message
            ),
            start_to_close_timeout=_STORE_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )
        return EndpointOutcome(
            endpoint_id=subscriber.endpoint_id,
            status=DeliveryStatus.FAILED,
            attempts=int(details.get("attempt", 0)) if isinstance(details, dict) else 0,
            status_code=details.get("status_code") if isinstance(details, dict) else None,
            error=message,
            disabled_reason=details.get("disabled") if isinstance(details, dict) else None,
        )

    # ------------------------------------------------------------ automations

    async def _automate_outcome(
        self, event: EventWorkflowInput, subscriber: Subscriber, outcome: EndpointOutcome
    ) -> None:
        triggers = {Trigger.DELIVERED} if outcome.status == DeliveryStatus.DELIVERED else set()
        if outcome.recovered:
            triggers.add(Trigger.RECOVERED)
        if outcome.disabled_reason:
            triggers.add(Trigger.ENDPOINT_DISABLED)
        elif outcome.status == DeliveryStatus.FAILED:
            triggers.add(Trigger.EXHAUSTED)
        for rule in self._rules:
            wanted = not rule.endpoint_ids or subscriber.endpoint_id in rule.endpoint_ids
            if rule.when in triggers and wanted:
                await self._act(
                    rule,
                    DeliveryReport(
                        rule=rule.name,
                        trigger=rule.when,
                        event_id=event.event_id,
                        event_type=event.event_type,
                        account_id=event.account_id,
                        endpoint_id=subscriber.endpoint_id,
                        endpoint_url=subscriber.url,
                        outcome=outcome.status,
                        attempts=outcome.attempts,
                        last_status_code=outcome.status_code,
                        reason=outcome.disabled_reason or outcome.error,
                    ),
                    event,
                )

    async def _automate_settled(
        self, event: EventWorkflowInput, status: EventStatus, outcomes: list[EndpointOutcome]
    ) -> None:
        for rule in self._rules:
            if rule.when == Trigger.SETTLED:
                report = DeliveryReport(
                    rule=rule.name,
                    trigger=rule.when,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    account_id=event.account_id,
                    endpoint_id=None,
                    endpoint_url=None,
                    outcome=status,
                    attempts=sum(outcome.attempts for outcome in outcomes),
                )
                await self._act(rule, report, event)

    async def _act(
        self, rule: AutomationRule, report: DeliveryReport, event: EventWorkflowInput
    ) -> None:
        """Carry out one rule for one outcome, once however often the event is delivered."""
        try:
            if rule.workflow_type is not None and rule.task_queue is not None:
                await workflow.start_child_workflow(
                    rule.workflow_type,
                    report,
                    id=automation_workflow_id(rule.name, report.event_id, report.endpoint_id),
                    task_queue=rule.task_queue,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{rule.name}: {report.trigger} for {report.event_id}",
                )
            elif rule.emit is not None:
                await self._emit(rule, report, event)
        except WorkflowAlreadyStartedError:
            pass  # a resend or a replay of an outcome already acted on

    async def _emit(
        self, rule: AutomationRule, report: DeliveryReport, event: EventWorkflowInput
    ) -> None:
        assert rule.emit is not None
        emitted = await workflow.execute_activity_method(
            EndpointActivities.emit_operational_event,
            OperationalEventInput(
                account_id=report.account_id,
                event_type=rule.emit,
                data=operational_event_data(rule.emit, report),
                idempotency_key=automation_workflow_id(
                    rule.name, report.event_id, report.endpoint_id
                ),
            ),
            start_to_close_timeout=_STORE_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )
        await workflow.start_child_workflow(
            EventWorkflow.run,
            EventWorkflowInput(
                event_id=emitted.event_id,
                account_id=report.account_id,
                event_type=emitted.event_type,
                search_attributes=event.search_attributes,
            ),
            id=event_workflow_id(emitted.event_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=(
                event_search_attributes(emitted.event_type, report.account_id)
                if event.search_attributes
                else None
            ),
            static_summary=f"{emitted.event_type} for account {report.account_id}",
        )


def operational_event_data(event_type: str, report: DeliveryReport) -> dict[str, Any]:
    """The ``data`` of an operational event, from the delivery report behind it."""
    if event_type == "webhook.endpoint.disabled":
        return {
            "endpoint_id": report.endpoint_id,
            "endpoint_url": report.endpoint_url,
            "reason": report.reason or "disabled",
            "event_id": report.event_id,
        }
    data: dict[str, Any] = {
        "event_id": report.event_id,
        "event_type": report.event_type,
        "endpoint_id": report.endpoint_id,
        "endpoint_url": report.endpoint_url,
        "attempts": report.attempts,
    }
    if event_type == "webhook.message.attempt.exhausted":
        data["last_status_code"] = report.last_status_code
    return data
