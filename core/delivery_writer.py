"""The worker's writes on the store's hot path, in one transaction for those that come
together: each event's pending deliveries, and every delivery attempt.

A lookup records a pending delivery per endpoint it found. Each attempt moves its delivery
to a new state, adds its attempt row and notes its endpoint's health. Those writes run as
prebuilt statements on a synchronous engine, one thread call per transaction, and every
write that comes while a transaction is being written joins the next one (group commit).
A caller's write returns once its transaction has committed, so nothing is acknowledged
that is not stored. On SQLite this holds the one write lock for the least time, where a
transaction run statement by statement from a busy event loop held it for tens of
milliseconds; on every database it spares the event loop a round trip per statement.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Insert, bindparam, insert, select, update
from sqlmodel import col

from core.contracts import DeliveryStatus
from core.ids import new_id
from core.models import Attempt, Delivery, Endpoint, Event, UTCDateTime, utc_now

logger = logging.getLogger(__name__)

# Bounds how long one transaction holds SQLite's write lock when many attempts queue up.
MAX_BATCH = 100


class HealthChange(StrEnum):
    UNCHANGED = "unchanged"
    DISABLED = "disabled"
    """The attempt disabled the endpoint: it answered 410 Gone, or it failed past the
    window without a success."""
    RECOVERED = "recovered"
    """A success after failures."""


@dataclass(frozen=True)
class AttemptWrite:
    attempt: Attempt
    """With its outcome; its number and delivery are filled in by the store."""
    status: DeliveryStatus
    """The state the attempt leaves its delivery in."""
    next_attempt_at: datetime | None
    disable_reason: str | None = None
    """Disable the endpoint for this reason, rather than note its health."""


@dataclass(frozen=True)
class DeliveriesWrite:
    """An event's deliveries, one per endpoint and each recorded once, however often its
    lookup runs."""

    event_id: str
    account_id: str
    policies: dict[str, str]
    """Endpoint id -> the retry policy its delivery runs under."""
    skipped: dict[str, str]
    """Endpoint id -> why nothing is sent to it: recorded, so nothing is silently dropped."""
    restart: bool = False
    """Existing deliveries go back to pending under the given policy: a resend."""


@dataclass(frozen=True)
class StoredAttempt:
    number: int
    """The attempt's number in its delivery: a resend continues where earlier ones ended."""
    change: HealthChange


_UPDATE_DELIVERY = (
    update(Delivery)
    .where(
        col(Delivery.event_id) == bindparam("b_event_id"),
        col(Delivery.endpoint_id) == bindparam("b_endpoint_id"),
    )
    .values(
        attempts=col(Delivery.attempts) + 1,
        status=bindparam("b_status"),
        last_status_code=bindparam("b_status_code"),
        last_error=bindparam("b_error"),
        last_attempt_at=bindparam("b_started_at", type_=UTCDateTime),
        next_attempt_at=bindparam("b_next_attempt_at", type_=UTCDateTime),
        updated_at=bindparam("b_now", type_=UTCDateTime),
    )
    .returning(col(Delivery.id), col(Delivery.attempts))
)
_DELIVERED_AT = {"delivered_at": bindparam("b_now", type_=UTCDateTime)}
_UPDATE_DELIVERED = _UPDATE_DELIVERY.values(_DELIVERED_AT)
_INSERT_ATTEMPTS = insert(Attempt)
# Nearly every success finds nothing to clear: one statement, no read.
_CLEAR_FAILING = (
    update(Endpoint)
    .where(col(Endpoint.id) == bindparam("b_endpoint_id"), col(Endpoint.failing_since).is_not(None))
    .values(failing_since=None)
)
_ENDPOINT_HEALTH = select(col(Endpoint.failing_since), col(Endpoint.disabled_at)).where(
    col(Endpoint.id) == bindparam("b_endpoint_id")
)
_START_FAILING = (
    update(Endpoint)
    .where(col(Endpoint.id) == bindparam("b_endpoint_id"), col(Endpoint.failing_since).is_(None))
    .values(failing_since=bindparam("b_at", type_=UTCDateTime))
)
_DISABLE = (
    update(Endpoint)
    .where(col(Endpoint.id) == bindparam("b_endpoint_id"), col(Endpoint.disabled_at).is_(None))
    .values(
        disabled_at=bindparam("b_now", type_=UTCDateTime),
        disabled_reason=bindparam("b_reason"),
        updated_at=bindparam("b_now", type_=UTCDateTime),
    )
)


# The lookup is also the proof that the event's workflow started, should the API have
# failed to record it. Later lookups (resends, tests) find the event resolved and write nothing.
_RESOLVED = (
    update(Event)
    .where(col(Event.id) == bindparam("b_event_id"), col(Event.endpoints_resolved).is_(False))
    .values(endpoints_resolved=True, workflow_started=True)
)
_RESTART_DELIVERY = (
    update(Delivery)
    .where(
        col(Delivery.event_id) == bindparam("b_event_id"),
        col(Delivery.endpoint_id) == bindparam("b_endpoint_id"),
    )
    .values(
        status=DeliveryStatus.PENDING,
        retry_policy=bindparam("b_policy"),
        next_attempt_at=None,
        updated_at=bindparam("b_now", type_=UTCDateTime),
    )
)


@functools.cache
def _add_deliveries(dialect: str) -> Insert:
    """An INSERT that leaves a delivery already recorded as it is, in the dialect's words.
    Only the dialect in use is imported: PostgreSQL's costs a worker on SQLite 2 MiB."""
    insert_of_dialect = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
    statement: Insert = insert_of_dialect(Delivery).on_conflict_do_nothing(
        index_elements=["event_id", "endpoint_id"]
    )
    return statement


class DeliveryWriter:
    def __init__(self, engine: Engine, *, disable_after: timedelta | None = None) -> None:
        """``engine`` is synchronous (``store.create_sync_engine``); an endpoint failing for
        ``disable_after`` without a success is disabled."""
        self._engine = engine
        self._disable_after = disable_after
        self._queued: list[
            tuple[AttemptWrite | DeliveriesWrite, asyncio.Future[StoredAttempt | None]]
        ] = []
        self._writing: asyncio.Task[None] | None = None

    async def write(self, write: AttemptWrite) -> StoredAttempt | None:
        """Store the attempt and its delivery's new state, committed when this returns;
        None when the event has no delivery to the endpoint."""
        return await self._queue(write)

    async def add_deliveries(self, write: DeliveriesWrite) -> None:
        """Record an event's deliveries, committed when this returns."""
        await self._queue(write)

    async def _queue(self, write: AttemptWrite | DeliveriesWrite) -> StoredAttempt | None:
        stored: asyncio.Future[StoredAttempt | None] = asyncio.get_running_loop().create_future()
        self._queued.append((write, stored))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_queued())
        # Shielded: an attempt whose caller is cancelled is still stored with the others.
        return await asyncio.shield(stored)

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
            writes = [write for write, _ in batch]
            results: Sequence[StoredAttempt | BaseException | None]
            try:
                results = await asyncio.to_thread(self._in_one_transaction, writes)
            except Exception as error:
                # One attempt's failure must not fail the others: each on its own then.
                multiple = len(batch) > 1
                results = await asyncio.to_thread(self._each_alone, writes) if multiple else [error]
            except BaseException:
                for _, stored in batch:
                    stored.cancel()
                raise
            for (_, stored), result in zip(batch, results, strict=True):
                if stored.done():
                    continue
                if isinstance(result, BaseException):
                    stored.set_exception(result)
                else:
                    stored.set_result(result)

    def _in_one_transaction(
        self, writes: list[AttemptWrite | DeliveriesWrite]
    ) -> list[StoredAttempt | None]:
        with self._engine.begin() as connection:
            stored = [
                self._apply(connection, write)
                if isinstance(write, AttemptWrite)
                else self._add(connection, write)
                for write in writes
            ]
            rows = [row for _, row in stored if row is not None]
            if rows:
                connection.execute(_INSERT_ATTEMPTS, rows)
        return [result for result, _ in stored]

    def _each_alone(
        self, writes: list[AttemptWrite | DeliveriesWrite]
    ) -> list[StoredAttempt | BaseException | None]:
        results: list[StoredAttempt | BaseException | None] = []
        for write in writes:
            try:
                results.extend(self._in_one_transaction([write]))
            except Exception as error:
                logger.warning("an attempt could not be stored", exc_info=True)
                results.append(error)
        return results

    @staticmethod
    def _add(connection: Connection, write: DeliveriesWrite) -> tuple[None, None]:
        now = utc_now()
        connection.execute(_RESOLVED, {"b_event_id": write.event_id})
        rows = [
            _delivery_row(write, endpoint_id, status=DeliveryStatus.SKIPPED, error=why[:1000])
            for endpoint_id, why in write.skipped.items()
        ] + [
            _delivery_row(write, endpoint_id, policy=policy)
            for endpoint_id, policy in write.policies.items()
        ]
        if rows:
            connection.execute(_add_deliveries(connection.dialect.name), rows)
        if write.restart and write.policies:
            connection.execute(
                _RESTART_DELIVERY,
                [
                    {"b_event_id": write.event_id, "b_endpoint_id": e, "b_policy": p, "b_now": now}
                    for e, p in write.policies.items()
                ],
            )
        return None, None

    def _apply(
        self, connection: Connection, write: AttemptWrite
    ) -> tuple[StoredAttempt | None, dict[str, Any] | None]:
        """The attempt's delivery and endpoint changes; its row is inserted with the batch's."""
        attempt = write.attempt
        now = utc_now()
        statement = (
            _UPDATE_DELIVERED if write.status == DeliveryStatus.DELIVERED else _UPDATE_DELIVERY
        )
        delivery = connection.execute(
            statement,
            {
                "b_event_id": attempt.event_id,
                "b_endpoint_id": attempt.endpoint_id,
                "b_status": write.status,
                "b_status_code": attempt.status_code,
                "b_error": attempt.error,
                "b_started_at": attempt.started_at,
                "b_next_attempt_at": write.next_attempt_at,
                "b_now": now,
            },
        ).first()
        if delivery is None:
            return None, None
        row = attempt.model_dump() | {"delivery_id": delivery[0], "attempt": delivery[1]}
        if write.disable_reason is not None:
            change = self._disable(connection, attempt.endpoint_id, write.disable_reason, now)
        elif attempt.outcome in ("succeeded", "failed"):
            change = self._note_health(
                connection,
                attempt.endpoint_id,
                succeeded=attempt.outcome == "succeeded",
                # Temporal's clock, which is the wall clock in service and moves with
                # skipped time in tests of multi-day schedules.
                at=attempt.scheduled_at or attempt.started_at,
                now=now,
            )
        else:
            change = HealthChange.UNCHANGED
        return StoredAttempt(number=delivery[1], change=change), row

    def _note_health(
        self,
        connection: Connection,
        endpoint_id: str,
        *,
        succeeded: bool,
        at: datetime,
        now: datetime,
    ) -> HealthChange:
        """Track how long the endpoint has failed without a success; past the window,
        disable it."""
        if succeeded:
            cleared = connection.execute(_CLEAR_FAILING, {"b_endpoint_id": endpoint_id})
            return HealthChange.RECOVERED if cleared.rowcount else HealthChange.UNCHANGED
        health = connection.execute(_ENDPOINT_HEALTH, {"b_endpoint_id": endpoint_id}).first()
        if health is None:
            return HealthChange.UNCHANGED
        failing_since, disabled_at = health
        if failing_since is None:
            connection.execute(_START_FAILING, {"b_endpoint_id": endpoint_id, "b_at": at})
            failing_since = at
        if (
            self._disable_after is None
            or disabled_at is not None
            or at - failing_since < self._disable_after
        ):
            return HealthChange.UNCHANGED
        reason = f"no successful delivery since {failing_since.isoformat(timespec='seconds')}"
        return self._disable(connection, endpoint_id, reason, now)

    @staticmethod
    def _disable(
        connection: Connection, endpoint_id: str, reason: str, now: datetime
    ) -> HealthChange:
        disabled = connection.execute(
            _DISABLE, {"b_endpoint_id": endpoint_id, "b_reason": reason[:1000], "b_now": now}
        )
        return HealthChange.DISABLED if disabled.rowcount else HealthChange.UNCHANGED


def _delivery_row(
    write: DeliveriesWrite,
    endpoint_id: str,
    *,
    policy: str = "",
    status: DeliveryStatus = DeliveryStatus.PENDING,
    error: str | None = None,
) -> dict[str, Any]:
    return Delivery(
        id=new_id("dlv"),
        event_id=write.event_id,
        endpoint_id=endpoint_id,
        account_id=write.account_id,
        retry_policy=policy,
        status=status,
        last_error=error,
    ).model_dump()
