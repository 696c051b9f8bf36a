"""The whole benchmark in order: pipeline, ceiling, retry precision, backlog, floor."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench import driver
from bench.backlog import measure_backlog
from bench.baselines import FloorProgress, ceiling_sender, floor_sender
from bench.machine import machine, versions
from bench.monitor import Monitor
from bench.pipeline import PipelineApi, Tenant
from bench.processes import start_receiver, stop
from bench.profiling import record
from bench.receiver_control import ReceiverControl
from bench.retry_precision import measure_retry_precision
from bench.stack import Stack, start_floor, start_pipeline, stop_stack
from bench.stats import burst_ratios
from bench.timeline import timeline
from bench.workloads import MAX_IN_FLIGHT, ReceiverProgress, Workload, measure
from core.config import Settings
from worker import delivery_client

logger = logging.getLogger(__name__)

PACED_SHARES = (25, 50)
PROFILED_FANOUT = 3


@dataclass(frozen=True)
class Options:
    fanouts: list[int]
    duration: float
    workers: int
    concurrency: int
    quick: bool = False
    profile: bool = False
    results_dir: Path = Path("bench/results")
    retry_events: int = 10
    backlog_deliveries: int = 10_000
    backlog_flat_seconds: float = 10.0
    baseline_paced: bool = True
    throughput_only: bool = False
    """Skip retry precision and the backlog: for comparing runs, e.g. by worker count."""
    pipeline_only: bool = False
    """Only the pipeline's workloads, no baselines: for comparing changes to the pipeline."""
    command: str = "make bench"
    note: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def drain_timeout(self) -> float:
        return 30 + 2 * self.duration


def _tag(system: str, fanout: int, mode: str) -> str:
    return f"{system}-k{fanout}-{mode}"


async def run_bench(options: Options) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    admin_token = secrets.token_urlsafe(24)
    settings = Settings()
    results: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": options.command,
            "options": options.options,
            "note": options.note,
            "machine": machine(),
            "versions": versions(),
            "settings": {
                "emit_rate_limit": "raised out of the way (1,000,000/s, burst 1,000,000)",
                "worker_max_concurrent_activities": settings.worker_max_concurrent_activities,
                "worker_max_concurrent_workflow_tasks": (
                    settings.worker_max_concurrent_workflow_tasks
                ),
                "worker_max_cached_workflows": settings.cached_workflows,
                "delivery_max_connections": settings.delivery_max_connections,
                "store": "SQLite (aiosqlite), as make run",
                "burst_concurrency": options.concurrency,
                "workers": options.workers,
            },
        },
        "workloads": [],
        "profiles": [],
    }
    succeeded = False
    receiver_child = None
    stacks: list[Stack] = []
    try:
        receiver_child, receiver_url = await start_receiver(workdir / "receiver.log")
        async with httpx.AsyncClient(timeout=30) as control:
            receiver = ReceiverControl(control, receiver_url)
            pipeline = await start_pipeline(
                workdir, workers=options.workers, admin_token=admin_token
            )
            stacks.append(pipeline)
            limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
            async with httpx.AsyncClient(
                base_url=pipeline.api_url, timeout=60, limits=limits
            ) as api_http:
                api = PipelineApi(api_http, admin_token=admin_token)
                tenants = {
                    fanout: await api.tenant(
                        f"bench K={fanout}",
                        receiver,
                        [f"/k{fanout}/{number}" for number in range(fanout)],
                    )
                    for fanout in options.fanouts
                }
                everyone = pipeline.roles() | {
                    "receiver": [receiver_child.process.pid],
                    "driver": [os.getpid()],
                }
                rates = await _pipeline_workloads(
                    options, results, api, receiver, tenants, pipeline, Monitor(everyone)
                )
                if not options.pipeline_only:
                    await _ceiling_workloads(
                        options, settings, results, receiver, tenants, rates, Monitor(everyone)
                    )
                if not (options.throughput_only or options.pipeline_only):
                    results["retry_precision"] = await measure_retry_precision(
                        api, receiver, events=options.retry_events
                    )
                    results["backlog"] = await measure_backlog(
                        api,
                        receiver,
                        Monitor(pipeline.roles()),
                        deliveries=options.backlog_deliveries,
                        concurrency=options.concurrency,
                        flat_seconds=options.backlog_flat_seconds,
                    )
            await stop_stack(pipeline)
            stacks.remove(pipeline)

            if not options.pipeline_only:
                floor = await start_floor(workdir, workers=options.workers, admin_token=admin_token)
                stacks.append(floor)
                await _floor_workloads(options, results, floor, rates)
        results["ratios"] = burst_ratios(results["workloads"])
        results["meta"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["meta"]["machine"]["load_average_at_end"] = [
            round(load, 2) for load in os.getloadavg()
        ]
        succeeded = True
        return results
    finally:
        for stack in stacks:
            await stop_stack(stack)
        if receiver_child is not None:
            await stop([receiver_child])
        if succeeded:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            logger.error("the bench failed; logs of its processes are in %s", workdir)


async def _pipeline_workloads(
    options: Options,
    results: dict[str, Any],
    api: PipelineApi,
    receiver: ReceiverControl,
    tenants: dict[int, Tenant],
    pipeline: Stack,
    monitor: Monitor,
) -> dict[int, float]:
    """Each fan-out's burst, then paced runs at shares of it; returns the burst event rates."""
    rates: dict[int, float] = {}
    explain = partial(timeline, await Client.connect(pipeline.temporal.address))
    for fanout, tenant in tenants.items():
        send = api.emitter(tenant)
        progress = ReceiverProgress(receiver, tenant.paths)
        profiled = options.profile and fanout == PROFILED_FANOUT

        async def profile(fanout: int = fanout) -> None:
            pids = {f"worker-{n + 1}": w.process.pid for n, w in enumerate(pipeline.workers)}
            if pipeline.api is not None:
                pids["api"] = pipeline.api.process.pid
            results["profiles"] += await record(
                pids,
                seconds=options.duration,
                out_dir=options.results_dir,
                label=f"k{fanout}-burst",
            )

        burst = await measure(
            Workload(
                "pipeline",
                fanout,
                "burst",
                options.duration,
                options.concurrency,
                backpressure=True,
            ),
            send=send,
            progress=progress,
            monitor=monitor,
            drain_timeout=options.drain_timeout,
            during=profile if profiled else None,
            explain=explain,
        )
        results["workloads"].append(burst)
        rates[fanout] = burst["events_per_s"] or 1.0
        for share in PACED_SHARES:
            paced = Workload(
                "pipeline",
                fanout,
                f"paced-{share}",
                options.duration,
                options.concurrency,
                rate=rates[fanout] * share / 100,
            )
            results["workloads"].append(
                await measure(
                    paced,
                    send=send,
                    progress=progress,
                    monitor=monitor,
                    drain_timeout=options.drain_timeout,
                    explain=explain,
                )
            )
    return rates


async def _ceiling_workloads(
    options: Options,
    settings: Settings,
    results: dict[str, Any],
    receiver: ReceiverControl,
    tenants: dict[int, Tenant],
    rates: dict[int, float],
    monitor: Monitor,
) -> None:
    """The same signed POSTs straight from this process, at full speed and at the
    pipeline's paced rates."""
    async with delivery_client(settings) as http:
        for fanout, tenant in tenants.items():
            send = ceiling_sender(
                http, tenant.endpoints, max_in_flight=settings.worker_max_concurrent_activities
            )
            # Unmeasured: the client opens its connections, as the worker's did long before.
            await driver.count(send, total=options.concurrency, concurrency=options.concurrency)
            progress = ReceiverProgress(receiver, tenant.paths)
            for workload in _baseline_workloads("ceiling", fanout, options, rates):
                results["workloads"].append(
                    await measure(
                        workload,
                        send=send,
                        progress=progress,
                        monitor=monitor,
                        drain_timeout=options.drain_timeout,
                    )
                )


async def _floor_workloads(
    options: Options, results: dict[str, Any], floor: Stack, rates: dict[int, float]
) -> None:
    client = await Client.connect(floor.temporal.address)
    settings = Settings(task_queue=floor.task_queue)
    monitor = Monitor(floor.roles() | {"driver": [os.getpid()]})
    for fanout in options.fanouts:
        for workload in _baseline_workloads("floor", fanout, options, rates):
            tag = _tag("floor", fanout, workload.mode)
            results["workloads"].append(
                await measure(
                    workload,
                    send=floor_sender(client, settings, fanout=fanout, tag=tag),
                    progress=FloorProgress(client, fanout=fanout, tag=tag),
                    monitor=monitor,
                    drain_timeout=options.drain_timeout,
                )
            )


def _baseline_workloads(
    system: str, fanout: int, options: Options, rates: dict[int, float]
) -> list[Workload]:
    workloads = [
        Workload(
            system,
            fanout,
            "burst",
            options.duration,
            options.concurrency,
            backpressure=system == "floor",
        )
    ]
    if options.baseline_paced:
        workloads += [
            Workload(
                system,
                fanout,
                f"paced-{share}",
                options.duration,
                options.concurrency,
                rate=rates[fanout] * share / 100,
            )
            for share in PACED_SHARES
        ]
    return workloads
