"""Memory under backlog: many deliveries waiting in retry backoff, and what they cost.

Endpoints under ``bench-backlog`` (immediately, then 10 minutes later) answer 500, so after
one attempt each delivery waits in Temporal's backoff. Resident memory of the workers (each
process, and all together), the API and Temporal is taken before, once every first attempt
has failed, and some seconds later, to show whether it stays flat while the deliveries
wait.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bench import driver
from bench.monitor import Monitor
from bench.pipeline import PipelineApi
from bench.receiver_control import ALWAYS_FAIL, ReceiverControl

logger = logging.getLogger(__name__)

POLICY = "bench-backlog"
ENDPOINTS = 10
SETTLE_SECONDS = 2.0


async def measure_backlog(
    api: PipelineApi,
    receiver: ReceiverControl,
    monitor: Monitor,
    *,
    deliveries: int,
    concurrency: int,
    flat_seconds: float,
) -> dict[str, Any]:
    paths = [f"/backlog/{number}" for number in range(ENDPOINTS)]
    tenant = await api.tenant(
        "bench backlog", receiver, paths, retry_policy=POLICY, fail_first=ALWAYS_FAIL
    )
    await receiver.reset()
    events = deliveries // ENDPOINTS
    before, workers_before = monitor.rss_mib(), monitor.rss_mib_each("worker")
    logger.info("backlog: %d events to %d failing endpoints", events, ENDPOINTS)
    emissions = await driver.count(api.emitter(tenant), total=events, concurrency=concurrency)
    accepted = sum(emission.accepted for emission in emissions)
    waiting = await receiver.wait_for(
        paths, accepted * ENDPOINTS, timeout=120 + deliveries / 20, key="attempts"
    )
    await asyncio.sleep(SETTLE_SECONDS)
    after, workers_after = monitor.rss_mib(), monitor.rss_mib_each("worker")
    async with monitor.window() as idle:
        await asyncio.sleep(flat_seconds)
    later, workers_later = monitor.rss_mib(), monitor.rss_mib_each("worker")
    return {
        "policy": POLICY,
        "endpoints": ENDPOINTS,
        "events": accepted,
        "refused_by": driver.refusals(emissions),
        "deliveries_waiting": waiting,
        "rss_mib_before": before,
        "rss_mib_after": after,
        "rss_mib_later": later,
        # Each worker process apart: the target holds each one, as a replica is sized.
        "worker_rss_mib_each": {
            "before": workers_before,
            "after": workers_after,
            "later": workers_later,
        },
        "later_after_s": flat_seconds,
        "idle_cpu": idle.cpu_report(),
    }
