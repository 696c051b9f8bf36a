"""The whole benchmark in order: each fan-out on the pipeline, the floor and the ceiling
in turn, then retry precision and the backlog on the pipeline."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
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
from bench.database import scratch_schema, server_process
from bench.driver import Send
from bench.machine import machine, versions
from bench.monitor import Monitor, machine_quiet
from bench.pipeline import PipelineApi, Tenant
from bench.processes import start_receiver, stop
from bench.profiling import record
from bench.receiver_control import ReceiverControl
from bench.report import DATABASE
from bench.retry_precision import measure_retry_precision
from bench.stack import Stack, start_floor, start_pipeline, stop_stack
from bench.stats import burst_ratios
from bench.timeline import timeline
from bench.workloads import (
    MAX_IN_FLIGHT,
    Explain,
    Progress,
    ReceiverProgress,
    Workload,
    measure,
)
from core.config import Settings
from worker import delivery_client

logger = logging.getLogger(__name__)

PACED_SHARES = (25, 50)
PROFILED_FANOUT = 3
CEILING_WARM_UP_SECONDS = 6.0
"""At most; a shorter burst is warmed up for its own length: a couple of seconds at the
burst's concurrency already opens every connection it holds."""


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
    database_url: str | None = None
    """A PostgreSQL server for the store, in a schema of the run's own; SQLite otherwise."""
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
                "delivery_max_connections_per_host": settings.delivery_max_connections_per_host,
                "store": (
                    "PostgreSQL (psycopg), a schema of the run's own"
                    if options.database_url
                    else "SQLite (aiosqlite), as make run"
                ),
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
    # Closed once every process that uses the store has stopped.
    store = contextlib.ExitStack()
    try:
        database_url = None
        if options.database_url:
            database_url = store.enter_context(scratch_schema(options.database_url))
        receiver_child, receiver_url = await start_receiver(workdir / "receiver.log")
        async with httpx.AsyncClient(timeout=30) as control:
            receiver = ReceiverControl(control, receiver_url)
            pipeline = await start_pipeline(
                workdir,
                workers=options.workers,
                admin_token=admin_token,
                database_url=database_url,
            )
            stacks.append(pipeline)
            floor = None
            if not options.pipeline_only:
                # Up from the start, idle while the others run: each fan-out's floor then
                # runs right after its pipeline, on the machine of the same minutes.
                floor = await start_floor(workdir, workers=options.workers, admin_token=admin_token)
                stacks.append(floor)
            limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
            async with (
                httpx.AsyncClient(base_url=pipeline.api_url, timeout=60, limits=limits) as api_http,
                delivery_client(settings) as ceiling_http,
            ):
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
                if options.database_url:
                    database = server_process(options.database_url)
                    if database is not None:
                        everyone[DATABASE] = [database]
                systems = [
                    await _pipeline_system(options, results, api, receiver, tenants, pipeline)
                ]
                if floor is not None:
                    systems += [
                        await _floor_system(floor, paced=options.baseline_paced),
                        _ceiling_system(
                            settings,
                            ceiling_http,
                            receiver,
                            tenants,
                            warm_up_concurrency=options.concurrency,
                            warm_up_seconds=min(CEILING_WARM_UP_SECONDS, options.duration),
                            paced=options.baseline_paced,
                        ),
                    ]
                await _workloads(options, results, systems, Monitor(everyone, cpu_only=[DATABASE]))
                if floor is not None:
                    await stop_stack(floor)
                    stacks.remove(floor)
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
        store.close()
        if succeeded:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            logger.error("the bench failed; logs of its processes are in %s", workdir)


@dataclass
class _System:
    """One system under measurement: how to drive it at each fan-out, and what to watch."""

    name: str
    sender: Callable[[int, str], Send]
    """For a fan-out and a workload's tag."""
    progress: Callable[[int, str], Progress]
    monitor: Monitor | None = None
    """None: the monitor of the whole run."""
    backpressure: bool = False
    paced: bool = True
    warm_up: Callable[[int], Awaitable[None]] | None = None
    explain: Explain | None = None
    profile: Callable[[int], Coroutine[Any, Any, None]] | None = None
    """Samples the processes through a burst at ``PROFILED_FANOUT`` of its own, run after
    the measured one: the sampler takes CPU the measured figures must not lose to it."""


async def _workloads(
    options: Options,
    results: dict[str, Any],
    systems: list[_System],
    monitor: Monitor,
    *,
    quiet: Callable[[], Awaitable[dict[str, float]]] = machine_quiet,
) -> None:
    """Each fan-out's burst on every system, then its paced runs at shares of the
    pipeline's burst rate (the first system's), every system in turn: a ratio compares
    runs a minute apart, not a whole run apart, on a machine whose speed drifts by the
    hour. Each workload waits for a quiet machine, as the stack of the one before it
    shares the CPUs."""
    modes = [("burst", None), *((f"paced-{share}", share) for share in PACED_SHARES)]

    async def run_on(
        system: _System,
        workload: Workload,
        tag: str,
        *,
        during: Callable[[], Coroutine[Any, Any, None]] | None = None,
        explain: Explain | None = None,
    ) -> dict[str, Any]:
        return await measure(
            workload,
            send=system.sender(workload.fanout, tag),
            progress=system.progress(workload.fanout, tag),
            monitor=system.monitor or monitor,
            drain_timeout=options.drain_timeout,
            during=during,
            explain=explain,
        )

    for fanout in options.fanouts:
        burst_rate = 1.0
        for mode, share in modes:
            for system in systems:
                if share is not None and not system.paced:
                    continue
                if share is None and system.warm_up is not None:
                    await system.warm_up(fanout)
                tag = _tag(system.name, fanout, mode)
                workload = Workload(
                    system.name,
                    fanout,
                    mode,
                    options.duration,
                    options.concurrency,
                    rate=None if share is None else burst_rate * share / 100,
                    backpressure=share is None and system.backpressure,
                )
                before = await quiet()
                figures = await run_on(system, workload, tag, explain=system.explain)
                figures["machine_before"] = before
                results["workloads"].append(figures)
                if share is None and system is systems[0]:
                    burst_rate = figures["events_per_s"] or 1.0
                if share is None and system.profile is not None and fanout == PROFILED_FANOUT:
                    await quiet()
                    results["profiled_burst"] = await run_on(
                        system, workload, f"{tag}-profiled", during=partial(system.profile, fanout)
                    )


async def _pipeline_system(
    options: Options,
    results: dict[str, Any],
    api: PipelineApi,
    receiver: ReceiverControl,
    tenants: dict[int, Tenant],
    pipeline: Stack,
) -> _System:
    async def profile(fanout: int) -> None:
        pids = {f"worker-{n + 1}": w.process.pid for n, w in enumerate(pipeline.workers)}
        if pipeline.api is not None:
            pids["api"] = pipeline.api.process.pid
        results["profiles"] += await record(
            pids, seconds=options.duration, out_dir=options.results_dir, label=f"k{fanout}-burst"
        )

    return _System(
        "pipeline",
        sender=lambda fanout, _tag: api.emitter(tenants[fanout]),
        progress=lambda fanout, _tag: ReceiverProgress(receiver, tenants[fanout].paths),
        backpressure=True,
        explain=partial(timeline, await Client.connect(pipeline.temporal.address)),
        profile=profile if options.profile else None,
    )


def _ceiling_system(
    settings: Settings,
    http: httpx.AsyncClient,
    receiver: ReceiverControl,
    tenants: dict[int, Tenant],
    *,
    warm_up_concurrency: int,
    warm_up_seconds: float,
    paced: bool,
) -> _System:
    """The same signed POSTs straight from this process: at full speed, and at the
    pipeline's paced rates."""
    senders = {
        fanout: ceiling_sender(
            http, tenant.endpoints, max_in_flight=settings.worker_max_concurrent_activities
        )
        for fanout, tenant in tenants.items()
    }

    async def reach_steady_pool(fanout: int) -> None:
        # Unmeasured, as the worker's pool was long before its bursts: a burst's first
        # seconds open a connection per request in flight, which a warm pool does not.
        await driver.burst(
            senders[fanout], concurrency=warm_up_concurrency, duration=warm_up_seconds
        )

    return _System(
        "ceiling",
        sender=lambda fanout, _tag: senders[fanout],
        progress=lambda fanout, _tag: ReceiverProgress(receiver, tenants[fanout].paths),
        paced=paced,
        warm_up=reach_steady_pool,
    )


async def _floor_system(floor: Stack, *, paced: bool) -> _System:
    client = await Client.connect(floor.temporal.address)
    settings = Settings(task_queue=floor.task_queue)
    return _System(
        "floor",
        sender=lambda fanout, tag: floor_sender(client, settings, fanout=fanout, tag=tag),
        progress=lambda fanout, tag: FloorProgress(client, fanout=fanout, tag=tag),
        monitor=Monitor(floor.roles() | {"driver": [os.getpid()]}),
        backpressure=True,
        paced=paced,
    )
