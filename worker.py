"""The worker: runs event workflows and their delivery activities.

This is the one place where workflows, activities and their dependencies meet.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from wsgiref.simple_server import WSGIServer

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from prometheus_client import start_http_server
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.delivery import DeliveryActivities
from activities.endpoints import EndpointActivities
from activities.handoff import LookupHandoff
from core import store
from core.automations import AutomationError, Automations, load_automations
from core.config import Settings, get_settings
from core.delivery_writer import DeliveryWriter
from core.retry import RetryPolicies, RetryPolicyError, load_retry_policies
from core.schema import SchemaError, require_current_schema
from core.tracing import start_tracing
from workflows.event import EventWorkflow
from workflows.recover import RecoverWorkflow

logger = logging.getLogger("worker")


class MetricsPortError(Exception):
    """A metrics port could not be bound, most often because something else holds it."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve_metrics(settings: Settings) -> WSGIServer | None:
    """Serve the project's metrics over HTTP on a thread of their own, or nothing when the
    port is 0. The caller shuts the returned server down."""
    if not settings.worker_metrics_port:
        return None
    try:
        server, _ = start_http_server(settings.worker_metrics_port, addr=settings.metrics_host)
    except OSError as error:
        address = _address(settings.metrics_host, settings.worker_metrics_port)
        raise MetricsPortError(f"cannot serve metrics on {address}: {error}") from error
    return server


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving the SDK's own metrics (task latencies, slots, polls), or
    None for the default runtime when the port is 0. One runtime per bind address."""
    if not settings.temporal_metrics_port:
        return None
    address = _address(settings.metrics_host, settings.temporal_metrics_port)
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError as error:  # what the SDK raises when the address cannot be bound
        raise MetricsPortError(f"cannot serve Temporal metrics on {address}: {error}") from error


IDLE_CONNECTION_SECONDS = 4.0


def delivery_client(
    settings: Settings, *, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The one HTTP client every delivery shares: pooled, bounded in all and per address,
    never following redirects, keeping no cookies (a receiver's cookie must not reach the
    next endpoint on its address).

    It is httpx on aiohttp's pool: httpx's own walks every pooled connection for every
    request, which costs a busy worker more CPU than the POSTs. aiohttp pools by TLS server
    name as well as address, so a connection verified for one host name never carries a
    delivery for another on the same address."""
    tls = httpx.create_ssl_context(verify=verify)

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=settings.delivery_max_connections,
            limit_per_host=settings.delivery_max_connections_per_host,
            # Common servers close idle connections after 5 s; letting go first avoids
            # sending on a connection the receiver is closing.
            keepalive_timeout=IDLE_CONNECTION_SECONDS,
            ssl=tls,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return httpx.AsyncClient(
        # aiohttp's session must be made inside the event loop, at the first delivery.
        transport=AiohttpTransport(client=session),
        timeout=httpx.Timeout(
            settings.delivery_read_timeout_seconds,
            connect=settings.delivery_connect_timeout_seconds,
        ),
        follow_redirects=False,
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        headers={"user-agent": settings.delivery_user_agent},
    )


def warn_of_a_small_cache(settings: Settings) -> None:
    """A cache below ``enough_cached_workflows`` has been seen to let workflow tasks time
    out, and their first attempts be made again."""
    if settings.cached_workflows < settings.enough_cached_workflows:
        logger.warning(
            "WEBHOOKS_WORKER_MAX_CACHED_WORKFLOWS=%d is below twice the workflow tasks (%d): "
            "workflow tasks may time out and some deliveries be attempted twice",
            settings.cached_workflows,
            settings.enough_cached_workflows,
        )


def attempt_timeout(settings: Settings) -> timedelta:
    """How long one attempt may take in all: connecting, then reading the answer."""
    return timedelta(
        seconds=settings.delivery_connect_timeout_seconds + settings.delivery_read_timeout_seconds
    )


def build_worker(
    client: Client,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    writer_engine: Engine,
    http: httpx.AsyncClient,
    policies: RetryPolicies,
    automations: Automations | None = None,
) -> Worker:
    """``writer_engine`` is a synchronous engine on the store's database
    (``store.create_sync_engine``), for the writes of deliveries and attempts and for the
    lookups' reads."""
    handoff = LookupHandoff()
    writer = DeliveryWriter(writer_engine, disable_after=settings.auto_disable_after)
    deliveries = DeliveryActivities(
        sessions=sessions,
        writer=writer,
        handoff=handoff,
        http=http,
        attempt_timeout=attempt_timeout(settings),
        destinations=settings.destination_policy(),
        temporal=client,
    )
    endpoints = EndpointActivities(
        automations=automations,
        handoff=handoff,
        sessions=sessions,
        reads=store.reads_only(writer_engine),
        writer=writer,
        policies=policies,
        attempt_timeout=attempt_timeout(settings) + timedelta(seconds=15),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[EventWorkflow, RecoverWorkflow],
        # Workflow code stays restricted to deterministic calls, but the modules it imports
        # are shared rather than imported afresh for every event.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        ),
        activities=[
            endpoints.subscribers_for,
            endpoints.recoverable_events,
            endpoints.emit_operational_event,
            deliveries.deliver,
            deliveries.record_failure,
        ],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        # A workflow task stays open while its local activities run: admitting more than
        # the activity slots can serve leaves them queued past the task's timeout, and a
        # timed-out task runs its activities again. Beyond this, a burst waits in Temporal.
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        # First attempts and lookups run as local activities.
        max_concurrent_local_activities=settings.worker_max_concurrent_activities,
        # An event waiting days to retry needs no place in memory: its state is in Temporal,
        # and it is replayed from there when its next attempt comes.
        max_cached_workflows=settings.cached_workflows,
        # On SIGTERM, attempts in flight get to finish and be recorded rather than be cut
        # off and repeated by the next worker.
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
    )


async def connect_when_reachable(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect to Temporal, waiting for it if it is down: a worker that starts first, or
    while Temporal restarts, should begin working when Temporal is back, not exit."""
    delay = 1.0
    while True:
        try:
            return await Client.connect(
                **settings.temporal_connect_config(), runtime=runtime, interceptors=interceptors
            )
        except RuntimeError as error:
            logger.warning("Temporal is unreachable (%s); retrying in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def run_until_stopped(
    new_worker: Callable[[Client], Worker],
    connect: Callable[[], Awaitable[Client]],
    stop: asyncio.Event,
) -> None:
    """Run a worker until ``stop`` is set. A worker checks its namespace as it starts; if
    Temporal goes away just then, the worker waits for it and starts again on a new
    connection (the old one keeps the failed worker registered) rather than exit, as it
    would if Temporal went away a moment later."""
    delay = 1.0
    while True:
        client = await _unless_stopped(connect(), stop)
        if client is None:
            return
        try:
            async with new_worker(client) as worker:
                logger.info("worker polling task queue %r", worker.task_queue)
                await stop.wait()
                logger.info("worker stopping: finishing the attempts in flight")
                return
        except RuntimeError as error:
            if stop.is_set() or await temporal_answers(client):
                raise
            logger.warning("Temporal went away as the worker started (%s); retrying", error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def _unless_stopped(connecting: Awaitable[Client], stop: asyncio.Event) -> Client | None:
    """The connection, or ``None`` if ``stop`` is set while Temporal is still away."""
    connection = asyncio.ensure_future(connecting)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({connection, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if connection.done():
        return connection.result()
    connection.cancel()
    return None


async def temporal_answers(client: Client) -> bool:
    try:
        return await client.service_client.check_health(timeout=timedelta(seconds=5))
    except (RPCError, RuntimeError):
        return False


async def main() -> None:
    try:
        settings = get_settings()
        policies = load_retry_policies(settings.retry_policies_file)
        automations = load_automations(settings.automations_file)
    except (ValidationError, RetryPolicyError, AutomationError) as error:
        sys.exit(f"worker cannot start: {error}")
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
    )
    warn_of_a_small_cache(settings)
    try:
        runtime = temporal_runtime(settings)
        metrics_server = serve_metrics(settings)
    except MetricsPortError as error:
        sys.exit(f"worker cannot start: {error}")
    engine = store.create_engine(settings.database_url)
    try:
        await require_current_schema(engine)
    except SchemaError as error:
        await engine.dispose()
        sys.exit(f"worker cannot start: {error}")
    # One connection for the writer's transactions, one (and an overflow) for lookups.
    writer_engine = store.create_sync_engine(settings.database_url, pool_size=2)
    tracing = start_tracing(settings, service_name="webhooks-worker")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with delivery_client(settings) as http:
        tracing.instrument_http_client(http)
        await run_until_stopped(
            lambda client: build_worker(
                client,
                settings=settings,
                sessions=store.session_factory(engine),
                writer_engine=writer_engine,
                http=http,
                policies=policies,
                automations=automations,
            ),
            lambda: connect_when_reachable(
                settings, runtime=runtime, interceptors=tracing.interceptors()
            ),
            stop,
        )
    await engine.dispose()
    writer_engine.dispose()
    if metrics_server is not None:
        metrics_server.shutdown()
        metrics_server.server_close()
    tracing.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
