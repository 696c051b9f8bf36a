"""Delivering one event to one endpoint: one signed POST per activity attempt.

Temporal runs the retries: each failed attempt raises an ``ApplicationError`` whose
``next_retry_delay`` carries the endpoint's schedule (or the receiver's ``Retry-After``),
so a delivery waiting days to retry costs the worker nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp
import httpx
from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.handoff import LookupHandoff
from core import metrics, store
from core.contracts import (
    ATTEMPT_FAILED_SIGNAL,
    AttemptReport,
    DeliveryErrorType,
    DeliveryFailureInput,
    DeliveryInput,
    DeliveryResult,
    DeliveryRetry,
    DeliveryStatus,
)
from core.delivery_writer import AttemptWrite, DeliveryWriter, HealthChange
from core.destinations import DestinationPolicy, DestinationRefusedError
from core.ids import new_id
from core.models import Attempt, Delivery, Endpoint, Event, utc_now
from core.signing import signed_headers

logger = logging.getLogger(__name__)

STORED_RESPONSE_BYTES = 1024
GONE_REASON = "the endpoint answered 410 Gone"
# A Retry-After further out than this is treated as this, so one answer cannot park a
# delivery beyond any schedule we would keep.
MAX_RETRY_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    body: str | None
    error: str | None
    retry_after: timedelta | None
    refused: bool = False


def webhook_body(event: Event) -> str:
    """The JSON body receivers get: the same bytes on every attempt."""
    # The same timestamp text the API shows for the event.
    timestamp = to_jsonable_python(event.created_at)
    payload = {"type": event.type, "timestamp": timestamp, "data": event.data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """``Retry-After`` as delay-seconds or an HTTP date, clamped to ``[0, MAX_RETRY_AFTER]``."""
    if not value:
        return None
    value = value.strip()
    try:
        delay = (
            timedelta(seconds=int(value)) if value.isdigit() else parsedate_to_datetime(value) - now
        )
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


def next_delay(retry: DeliveryRetry, attempt: int) -> timedelta:
    """The wait after ``attempt`` fails: the schedule's next step, or the exponential step."""
    if retry.kind == "schedule":
        scheduled = retry.delay_after_attempt(attempt) or timedelta(0)
        spread = retry.jitter * random.uniform(-1.0, 1.0)
        return scheduled * (1 + spread)
    seconds = retry.initial_interval_seconds * retry.backoff ** (attempt - 1)
    return timedelta(seconds=min(seconds, retry.maximum_interval_seconds))


class DeliveryActivities:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        writer: DeliveryWriter,
        http: httpx.AsyncClient,
        attempt_timeout: timedelta,
        destinations: DestinationPolicy,
        temporal: Client | None = None,
        handoff: LookupHandoff | None = None,
    ) -> None:
        self._sessions = sessions
        self._writer = writer
        self._handoff = handoff
        self._http = http
        self._attempt_timeout = attempt_timeout
        self._destinations = destinations
        self._temporal = temporal

    @activity.defn
    async def deliver(self, request: DeliveryInput) -> DeliveryResult:
        info = activity.info()
        retry = info.attempt > 1 or request.attempts_before > 0
        event, endpoint, delivery = await self._rows(request, local=info.is_local, retry=retry)
        done = _delivered_meanwhile(delivery)
        if done is not None:
            logger.info(
                "already delivered; not sent again",
                extra={"event_id": request.event_id, "endpoint_id": request.endpoint_id},
            )
            return done
        if event is None:
            raise ApplicationError(f"event {request.event_id} does not exist", non_retryable=True)
        if endpoint is None or endpoint.disabled_at is not None:
            why = "was deleted" if endpoint is None else f"is disabled: {endpoint.disabled_reason}"
            await self._settle_failed(request, f"the endpoint {why}")
            raise ApplicationError(
                f"endpoint {request.endpoint_id} {why}",
                type=DeliveryErrorType.ENDPOINT_UNAVAILABLE,
                non_retryable=True,
            )

        started_at = utc_now()
        clock = time.perf_counter()
        answer = await self._post(event, endpoint)
        answered_at = utc_now()
        duration_ms = (time.perf_counter() - clock) * 1000
        if not answer.refused:
            metrics.ATTEMPT_DURATION.observe(duration_ms / 1000)

        attempt = Attempt(
            id=new_id("atm"),
            delivery_id="",
            event_id=event.id,
            endpoint_id=endpoint.id,
            account_id=event.account_id,
            url=endpoint.url,
            attempt=0,  # numbered by the store, per delivery
            outcome="",
            status_code=answer.status_code,
            response_body=answer.body,
            error=answer.error,
            scheduled_at=request.scheduled_at or info.current_attempt_scheduled_time,
            started_at=started_at,
            duration_ms=round(duration_ms, 3),
        )
        # Counted across activities: a local first attempt hands the rest to an ordinary one.
        attempt_number = info.attempt + request.attempts_before
        log = {"event_id": event.id, "endpoint_id": endpoint.id, "attempt": attempt_number}

        if answer.refused:
            number, _ = await self._record(attempt, "refused", DeliveryStatus.FAILED, None)
            logger.warning("destination refused", extra=log | {"error": answer.error})
            raise ApplicationError(
                f"delivery to {endpoint.url} refused: {answer.error}",
                {"attempt": number, "status_code": None},
                type=DeliveryErrorType.DESTINATION_REFUSED,
                non_retryable=True,
            )

        if answer.status_code is not None and 200 <= answer.status_code < 300:
            number, change = await self._record(
                attempt, "succeeded", DeliveryStatus.DELIVERED, None
            )
            metrics.DELIVERY_LATENCY.observe((utc_now() - event.created_at).total_seconds())
            logger.info("delivered", extra=log | {"status_code": answer.status_code})
            return DeliveryResult(
                status_code=answer.status_code,
                attempts=number,
                recovered=change == HealthChange.RECOVERED,
            )

        if answer.status_code == 410:
            number, _ = await self._record(
                attempt, "gone", DeliveryStatus.FAILED, None, disable_reason=GONE_REASON
            )
            logger.warning("endpoint answered 410 Gone; disabled", extra=log)
            raise ApplicationError(
                f"{endpoint.url} answered 410 Gone: endpoint disabled",
                {"attempt": number, "status_code": answer.status_code, "disabled": GONE_REASON},
                type=DeliveryErrorType.ENDPOINT_GONE,
                non_retryable=True,
            )

        last_attempt = attempt_number >= request.retry.maximum_attempts
        delay = answer.retry_after if answer.status_code in (429, 503) else None
        delay = delay if delay is not None else next_delay(request.retry, attempt_number)
        # The wait runs from the answer, so the time spent storing the attempt (which on a
        # busy store includes waiting for it) is not added to the endpoint's schedule.
        next_at = None if last_attempt else answered_at + delay
        status = DeliveryStatus.FAILED if last_attempt else DeliveryStatus.DELIVERING
        number, change = await self._record(attempt, "failed", status, next_at)
        logger.info("attempt failed", extra=log | {"status_code": answer.status_code})
        if change == HealthChange.DISABLED:
            raise ApplicationError(
                f"{endpoint.url} failed too long without a success: endpoint disabled",
                {
                    "attempt": number,
                    "status_code": answer.status_code,
                    "disabled": "it failed too long without a success",
                },
                type=DeliveryErrorType.ENDPOINT_UNAVAILABLE,
                non_retryable=True,
            )
        if not last_attempt and not info.is_local:
            # A local attempt's workflow learns of the failure directly.
            await self._report(
                AttemptReport(
                    endpoint_id=endpoint.id,
                    attempt=number,
                    status_code=answer.status_code,
                    next_attempt_at=next_at,
                )
            )
        problem = f"status {answer.status_code}" if answer.error is None else answer.error
        raise ApplicationError(
            f"delivery to {endpoint.url} failed: {problem}",
            {"attempt": number, "status_code": answer.status_code},
            type=(
                DeliveryErrorType.RECEIVER_UNREACHABLE
                if answer.status_code is None
                else DeliveryErrorType.RECEIVER_REJECTED
            ),
            next_retry_delay=_remaining(next_at) if next_at else delay,
            # Receivers failing is routine: keep it out of the worker's warning logs.
            category=ApplicationErrorCategory.BENIGN,
        )

    async def _rows(
        self, request: DeliveryInput, *, local: bool, retry: bool
    ) -> tuple[Event | None, Endpoint | None, Delivery | None]:
        """The event and the endpoint: from the lookup just before a local first attempt,
        otherwise from the store; and, for a retry, its delivery as it stands."""
        if local and self._handoff is not None:
            handed = self._handoff.take(request.event_id, request.endpoint_id)
            if handed is not None:
                return *handed, None
        async with store.read_transaction(self._sessions) as session:
            event = await session.get(Event, request.event_id)
            endpoint = await session.get(Endpoint, request.endpoint_id)
            delivery = (
                await store.get_delivery(
                    session, event_id=request.event_id, endpoint_id=request.endpoint_id
                )
                if retry
                else None
            )
        return event, endpoint, delivery

    @activity.defn
    async def record_failure(self, request: DeliveryFailureInput) -> None:
        """Settle a delivery whose retries ran out however they ended, timeouts included."""
        async with store.transaction(self._sessions) as session:
            settled = await store.mark_delivery_failed(
                session,
                event_id=request.event_id,
                endpoint_id=request.endpoint_id,
                error=request.error,
            )
        if settled is not None:  # not already settled by its last attempt
            metrics.count_settled(DeliveryStatus.FAILED, attempts=settled.attempts)

    async def _post(self, event: Event, endpoint: Endpoint) -> _Answer:
        try:
            target = await self._destinations.pin(endpoint.url)
        except DestinationRefusedError as refusal:
            return _Answer(None, None, str(refusal), None, refused=True)
        except OSError as error:
            return _Answer(None, None, f"cannot resolve the host: {error}", None)
        body = webhook_body(event)
        headers = signed_headers(
            endpoint.signing_secrets(utc_now()),
            message_id=event.id,
            timestamp=int(time.time()),
            body=body,
        )
        headers["content-type"] = "application/json"
        headers["host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            # The client's timeouts bound each read; this bounds a receiver that trickles.
            async with asyncio.timeout(self._attempt_timeout.total_seconds()):
                async with self._http.stream(
                    "POST", target.url, content=body, headers=headers, extensions=extensions
                ) as response:
                    received = bytearray()
                    async for chunk in response.aiter_bytes():
                        received += chunk
                        if len(received) >= STORED_RESPONSE_BYTES:
                            break
        # aiohttp lets through what httpx's names do not cover (a malformed answer).
        except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as error:
            return _Answer(None, None, _describe(error), None)
        text = received[:STORED_RESPONSE_BYTES].decode("utf-8", errors="replace")
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        return _Answer(response.status_code, text, None, retry_after)

    async def _record(
        self,
        attempt: Attempt,
        outcome: str,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        *,
        disable_reason: str | None = None,
    ) -> tuple[int, HealthChange]:
        """Store the attempt and its delivery's new state; returns the attempt's number and
        what it changed about the endpoint's health."""
        stored = await self._writer.write(
            AttemptWrite(
                attempt=attempt.model_copy(update={"outcome": outcome}),
                status=status,
                next_attempt_at=next_attempt_at,
                disable_reason=disable_reason,
            )
        )
        if stored is None:
            raise ApplicationError(
                f"no delivery of {attempt.event_id} to {attempt.endpoint_id}",
                non_retryable=True,
            )
        # Counted once the attempt is stored, so the numbers agree with the store.
        metrics.count_attempt(outcome, attempt.status_code)
        if status in metrics.SETTLED_OUTCOMES:
            metrics.count_settled(status, attempts=stored.number)
        if stored.change == HealthChange.DISABLED:
            if disable_reason is not None:
                metrics.count_disabled("gone")
            else:
                metrics.count_disabled("failing_too_long")
                logger.warning(
                    "endpoint disabled after failing too long",
                    extra={"endpoint_id": attempt.endpoint_id},
                )
        return stored.number, stored.change

    async def _report(self, report: AttemptReport) -> None:
        """Tell the workflow about a failed attempt, for its live deliveries query. Best
        effort: the attempt is recorded in the store whether or not this arrives."""
        info = activity.info()
        if self._temporal is None or info.workflow_id is None:
            return
        handle = self._temporal.get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
        try:
            await handle.signal(ATTEMPT_FAILED_SIGNAL, report)
        except Exception:  # a lost report must never fail the delivery
            logger.warning("could not report the attempt to its workflow", exc_info=True)

    async def _settle_failed(self, request: DeliveryInput, error: str) -> None:
        async with store.transaction(self._sessions) as session:
            settled = await store.mark_delivery_failed(
                session, event_id=request.event_id, endpoint_id=request.endpoint_id, error=error
            )
        if settled is not None:
            metrics.count_settled(DeliveryStatus.FAILED, attempts=settled.attempts)


def _delivered_meanwhile(delivery: Delivery | None) -> DeliveryResult | None:
    """The delivery's outcome when another run delivered it while this one waited to retry
    (a resend, or the event's own run behind a resend): sending it again would only repeat
    it, and a failure then would undo the delivery."""
    if (
        delivery is None
        or delivery.status != DeliveryStatus.DELIVERED
        or delivery.last_status_code is None
    ):
        return None
    return DeliveryResult(status_code=delivery.last_status_code, attempts=delivery.attempts)


def _remaining(until: datetime) -> timedelta:
    # At least a millisecond: Temporal reads a zero delay as none, and would fall back to
    # the retry policy's own interval.
    return max(until - utc_now(), timedelta(milliseconds=1))


def _describe(error: BaseException) -> str:
    chain = list(_chain(error))
    # The socket's own error, at the end of the chain, tells the customer what to fix.
    cause = chain[-1]
    if isinstance(cause, ConnectionRefusedError):
        return "ConnectError: connection refused: nothing accepts connections at that port"
    if isinstance(cause, socket.gaierror):
        return f"ConnectError: the host name could not be resolved ({cause.strerror})"
    if any(isinstance(link, TimeoutError) for link in chain):
        return f"timed out: {type(error).__name__}"
    # Behind aiohttp, httpx's class is a guess (a server that hangs up arrives as a
    # ConnectTimeout); the transport's own error, when there is one, names what happened.
    named = error.__cause__ if isinstance(error, httpx.HTTPError) and error.__cause__ else error
    if isinstance(named, aiohttp.ClientResponseError):
        # aiohttp gives a malformed answer a status of 400 of its own; none was answered.
        return _one_line(f"the answer is not valid HTTP: {named.message}")
    return _one_line(f"{type(named).__name__}: {named}")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1000]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__
