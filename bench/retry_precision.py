"""Retry precision: when a failing endpoint's retries happen, against its schedule.

An endpoint under the bench's ``bench-precision`` policy (immediately, then 1 s, 2 s, 4 s,
no jitter) answers 500 to its first three attempts. Each retry is compared with the
schedule three ways: the gap between two attempts as the receiver saw them, the gap
between the ``scheduled_at`` Temporal gave them, and the lag from ``scheduled_at`` to the
activity's ``started_at``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import datetime
from typing import Any

from bench import driver
from bench.pipeline import PipelineApi
from bench.receiver_control import ReceiverControl

logger = logging.getLogger(__name__)

POLICY = "bench-precision"
SCHEDULE_SECONDS = [1.0, 2.0, 4.0]
FAILING_ATTEMPTS = len(SCHEDULE_SECONDS)
PATH = "/retry/0"


def _errors_ms(errors: list[float]) -> dict[str, float | int | None]:
    if not errors:
        return {"count": 0, "mean": None, "max": None}
    return {
        "count": len(errors),
        "mean": round(1000 * sum(errors) / len(errors), 1),
        "max": round(1000 * max(errors, key=abs), 1),
    }


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def measure_retry_precision(
    api: PipelineApi, receiver: ReceiverControl, *, events: int
) -> dict[str, Any]:
    tenant = await api.tenant(
        "bench retry precision",
        receiver,
        [PATH],
        retry_policy=POLICY,
        fail_first=FAILING_ATTEMPTS,
        record_attempts=True,
    )
    await receiver.reset()
    logger.info("retry precision: %d events, schedule %s s", events, SCHEDULE_SECONDS)
    emissions = await driver.count(api.emitter(tenant), total=events, concurrency=events)
    event_ids = [e.event_id for e in emissions if e.accepted and e.event_id is not None]
    timeout = sum(SCHEDULE_SECONDS) * 3 + 30
    arrived = await receiver.wait_for([PATH], len(event_ids), timeout=timeout)
    # The last attempt is recorded by the worker just after the receiver answers it.
    await asyncio.sleep(1.0)
    seen = await receiver.receipts()

    receiver_gap: list[float] = []
    scheduled_gap: list[float] = []
    start_lag: list[float] = []
    for event_id in event_ids:
        times = sorted(at for path, eid, at, _ in seen.attempts if eid == event_id)
        for step, delay in enumerate(SCHEDULE_SECONDS[: len(times) - 1]):
            receiver_gap.append(times[step + 1] - times[step] - delay)
        attempts = await api.attempts(tenant, event_id)
        for attempt in attempts:
            if attempt["scheduled_at"] is not None:
                start_lag.append(_time(attempt["started_at"]) - _time(attempt["scheduled_at"]))
        for earlier, later in itertools.pairwise(attempts):
            if earlier["scheduled_at"] and later["scheduled_at"]:
                delay = SCHEDULE_SECONDS[earlier["attempt"] - 1]
                gap = _time(later["scheduled_at"]) - _time(earlier["scheduled_at"])
                scheduled_gap.append(gap - delay)
    return {
        "policy": POLICY,
        "schedule_s": SCHEDULE_SECONDS,
        "failing_attempts": FAILING_ATTEMPTS,
        "events": len(event_ids),
        "delivered": arrived,
        "receiver_interval_error_ms": _errors_ms(receiver_gap),
        "scheduled_interval_error_ms": _errors_ms(scheduled_gap),
        "start_lag_ms": _errors_ms(start_lag),
    }
