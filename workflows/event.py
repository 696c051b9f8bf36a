"""One emitted event: find the endpoints that want it, then deliver to each of them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from activities.endpoints import EndpointActivities
    from core.contracts import (
        ATTEMPT_FAILED_SIGNAL,
        DELIVERIES_QUERY,
        ENDPOINT_IDS_ATTRIBUTE,
        MAX_CONCURRENT_DELIVERIES,
        MAX_LOCAL_FIRST_ATTEMPTS,
        MAX_SEARCHABLE_ENDPOINT_IDS,
        STATUS_ATTRIBUTE,
        AttemptReport,
        AutomationRule,
        DeliveryFailureInput,
        DeliveryInput,
        DeliveryReport,
        DeliveryResult,
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
_ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
# How a delivery's last attempt ends when it fails: an ordinary activity's failure wraps the
# activity's own; a local activity's arrives as it was raised, or as its timeout.
AttemptFailure = ActivityError | ApplicationError | TimeoutError
ATTEMPT_FAILURES = (ActivityError, ApplicationError, TimeoutError)
_Input = TypeVar("_Input")
_Result = TypeVar("_Result")


def delivery_retry_policy(retry: DeliveryRetry, *, attempts_before: int = 0) -> RetryPolicy:
    """Temporal's retry policy for one delivery, after ``attempts_before`` attempts made
    elsewhere.

    The activity sets ``next_retry_delay`` on every failure, so the intervals here apply
    only when an attempt ends without an answer of its own (a worker lost mid-request).
    """
    return RetryPolicy(
        initial_interval=timedelta(seconds=retry.initial_interval_seconds),
        backoff_coefficient=retry.backoff,
        maximum_interval=timedelta(seconds=retry.maximum_interval_seconds),
        maximum_attempts=retry.maximum_attempts - attempts_before,
    )


def retries_after_local_attempt(retry: DeliveryRetry, failure: AttemptFailure) -> timedelta | None:
    """The wait before the second attempt, once a local first attempt failed; ``None``
    when the delivery is over (no attempts left, or a failure that is never retried)."""
    cause = _cause(failure)
    if retry.maximum_attempts <= 1:
        return None
    if isinstance(cause, ApplicationError):
        if cause.non_retryable:
            return None
        if cause.next_retry_delay is not None:
            return cause.next_retry_delay
    return retry.delay_after_attempt(1) or timedelta(seconds=retry.initial_interval_seconds)


@workflow.defn
class EventWorkflow:
    def __init__(self) -> None:
        self._states: dict[str, EndpointState] = {}
        self._rules: list[AutomationRule] = []
        self._endpoint_ids_pending: list[str] | None = None
        self._local = False

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
        # The lookup and each first attempt run as local activities, in the workflow task
        # that starts the event: an event whose receivers answer at once costs Temporal one
        # workflow task, not one activity task per endpoint. The choice comes with the input
        # rather than from a patch, whose marker would cost a search attribute write per
        # event.
        local = self._local = event.local_first_attempts
        lookup = SubscribersInput(
            event_id=event.event_id,
            account_id=event.account_id,
            event_type=event.event_type,
            endpoint_ids=event.endpoint_ids,
            single_attempt=event.single_attempt,
        )
        found = await self._store_work(
            EndpointActivities.subscribers_for,
            lookup,
            summary=f"look up the endpoints for {event.event_type}" if local else None,
        )
        # Histories recorded before these attributes were kept current replay without them;
        # every run with local first attempts was started after.
        searchable = event.search_attributes and (
            local or workflow.patched("search-attributes-kept-current")
        )
        if searchable:
            endpoint_ids = [s.endpoint_id for s in found.subscribers]
            self._endpoint_ids_pending = endpoint_ids[:MAX_SEARCHABLE_ENDPOINT_IDS]
            if not local:
                self._publish_endpoint_ids()
        local_first = local and len(found.subscribers) <= MAX_LOCAL_FIRST_ATTEMPTS
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
                self._deliver(event, subscriber, attempt_timeout, slots, local_first=local_first)
                for subscriber in found.subscribers
            )
        )
        status = EventStatus.of([outcome.status for outcome in outcomes])
        if searchable:
            self._publish_endpoint_ids(STATUS_ATTRIBUTE.value_set(status.value))
        if found.automations:
            await self._automate_settled(event, status, outcomes)
        return EventWorkflowResult(event_id=event.event_id, outcomes=list(outcomes))

    async def _store_work(
        self,
        activity: Callable[[Any, _Input], Awaitable[_Result]],
        request: _Input,
        *,
        summary: str | None = None,
    ) -> _Result:
        """A lookup or bookkeeping step in the store: local to the workflow task where first
        attempts are, retried until the store answers."""
        if self._local:
            return await workflow.execute_local_activity_method(
                activity,
                request,
                start_to_close_timeout=_STORE_TIMEOUT,
                retry_policy=_STORE_RETRY,
                summary=summary,
            )
        return await workflow.execute_activity_method(
            activity,
            request,
            start_to_close_timeout=_STORE_TIMEOUT,
            retry_policy=_STORE_RETRY,
            summary=summary,
        )

    def _publish_endpoint_ids(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Upsert the endpoint ids, once, together with ``updates``: an attribute set in the
        workflow task that also settles the event costs one visibility write, not two."""
        pending, self._endpoint_ids_pending = self._endpoint_ids_pending, None
        if pending is not None:
            updates = (ENDPOINT_IDS_ATTRIBUTE.value_set(pending), *updates)
        if updates:
            workflow.upsert_search_attributes(list(updates))

    async def _deliver(
        self,
        event: EventWorkflowInput,
        subscriber: Subscriber,
        attempt_timeout: timedelta,
        slots: asyncio.Semaphore,
        *,
        local_first: bool,
    ) -> EndpointOutcome:
        async with slots:
            try:
                result = await self._attempts(event, subscriber, attempt_timeout, local_first)
            except ATTEMPT_FAILURES as failure:
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

    async def _attempts(
        self,
        event: EventWorkflowInput,
        subscriber: Subscriber,
        attempt_timeout: timedelta,
        local_first: bool,
    ) -> DeliveryResult:
        """Every attempt of one delivery, until one succeeds or the retry policy is spent.

        A local first attempt that fails hands the rest of the schedule to an ordinary
        activity: Temporal then keeps the waits, however long, at no cost to the worker.
        """
        retry = subscriber.retry
        request = DeliveryInput(
            event_id=event.event_id, endpoint_id=subscriber.endpoint_id, retry=retry
        )
        summary = f"deliver to {subscriber.url}"
        started = workflow.now()
        attempts_before = 0
        if local_first:
            first = await self._local_first_attempt(
                request, subscriber, attempt_timeout, started, summary=summary
            )
            if isinstance(first, DeliveryResult):
                return first
            self._publish_endpoint_ids()
            # Out of the failure's handler, so the wait, however long, does not keep the
            # failure and its traceback alive in a cached workflow.
            await workflow.sleep(first, summary=f"retry {subscriber.url}")
            attempts_before = 1
            request = dataclasses.replace(request, attempts_before=attempts_before)
        deadline = None
        if retry.deadline_seconds:
            deadline = timedelta(seconds=retry.deadline_seconds) - (workflow.now() - started)
        return await workflow.execute_activity_method(
            DeliveryActivities.deliver,
            request,
            start_to_close_timeout=attempt_timeout,
            schedule_to_close_timeout=deadline,
            retry_policy=delivery_retry_policy(retry, attempts_before=attempts_before),
            summary=summary,
        )

    async def _local_first_attempt(
        self,
        request: DeliveryInput,
        subscriber: Subscriber,
        attempt_timeout: timedelta,
        started: datetime,
        *,
        summary: str,
    ) -> DeliveryResult | timedelta:
        """The first attempt as a local activity: its result, or the wait before the
        second attempt when it failed and the delivery goes on."""
        try:
            return await workflow.execute_local_activity_method(
                DeliveryActivities.deliver,
                dataclasses.replace(request, scheduled_at=started),
                start_to_close_timeout=attempt_timeout,
                retry_policy=_ONE_ATTEMPT,
                summary=summary,
            )
        except (ApplicationError, TimeoutError) as failure:
            wait = retries_after_local_attempt(request.retry, failure)
            if wait is None or _past_deadline(request.retry, started, wait):
                raise
            self._note_failed_first_attempt(subscriber, failure, wait)
            return wait

    def _note_failed_first_attempt(
        self, subscriber: Subscriber, failure: AttemptFailure, wait: timedelta
    ) -> None:
        details = _failure_details(failure)
        state = self._states[subscriber.endpoint_id]
        state.status = DeliveryStatus.DELIVERING
        state.attempts = max(state.attempts, int(details.get("attempt", 1)))
        state.last_status_code = details.get("status_code")
        state.next_attempt_at = workflow.now() + wait
        self._describe_progress()

    def _describe_progress(self) -> None:
        """The line the Temporal UI shows under the workflow's summary while it runs."""
        counts = Counter(state.status for state in self._states.values())
        settled = ", ".join(f"{counts[status]} {status}" for status in sorted(counts))
        workflow.set_current_details(f"{len(self._states)} endpoints: {settled or 'none'}")

    async def _settle_failed(
        self, event: EventWorkflowInput, subscriber: Subscriber, failure: AttemptFailure
    ) -> EndpointOutcome:
        message = str(_cause(failure) or failure)
        details = _failure_details(failure)
        settle = DeliveryFailureInput(
            event_id=event.event_id, endpoint_id=subscriber.endpoint_id, error=message
        )
        await self._store_work(DeliveryActivities.record_failure, settle)
        return EndpointOutcome(
            endpoint_id=subscriber.endpoint_id,
            status=DeliveryStatus.FAILED,
            attempts=int(details.get("attempt", 0)),
            status_code=details.get("status_code"),
            error=message,
            disabled_reason=details.get("disabled"),
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
                local_first_attempts=True,
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


def _past_deadline(retry: DeliveryRetry, started: datetime, wait: timedelta) -> bool:
    """Whether the next attempt would start after the policy's overall deadline."""
    if not retry.deadline_seconds:
        return False
    return workflow.now() + wait - started >= timedelta(seconds=retry.deadline_seconds)


def _cause(failure: AttemptFailure) -> BaseException | None:
    """The attempt's own failure, unwrapped from an ordinary activity's."""
    return failure.cause if isinstance(failure, ActivityError) else failure


def _failure_details(failure: AttemptFailure) -> dict[str, Any]:
    """What the delivery activity attached to its last failure: attempt, status code and
    why the endpoint was disabled, if it was."""
    cause = _cause(failure)
    details = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else {}
    return details if isinstance(details, dict) else {}


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
