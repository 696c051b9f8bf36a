"""Tracing: off by default; on, one trace per event from the emit to every POST."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.schema import upgrade_schema
from core.tracing import EVENT_ID_ATTRIBUTE, start_tracing
from tests.chaos.harness import Service, Tenant
from tests.conftest import make_settings, running_stack
from tests.events import example
from tests.fresh_python import output_of
from tests.receiver import Answer, Receiver


@pytest.fixture
def collector() -> Iterator[Receiver]:
    """An OTLP/HTTP endpoint: a real HTTP server that keeps the export requests it gets."""
    server = Receiver()
    server.default(
        "/v1/traces",
        Answer(200, {"content-type": "application/x-protobuf"}, body=b""),
    )
    server.start()
    yield server
    server.stop()


def test_the_worker_and_the_api_import_no_tracing_sdk_until_tracing_is_on() -> None:
    loaded = (
        "import sys, worker, api.main\n"
        "print(sorted({name for name in sys.modules if name.startswith(("
        "'opentelemetry.sdk', 'temporalio.contrib.opentelemetry'))}))"
    )

    assert output_of(loaded).strip() == "[]"


def test_no_endpoint_means_no_provider_and_no_interceptors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}")

    tracing = start_tracing(settings, service_name="webhooks-worker")

    assert settings.otel_exporter_otlp_endpoint is None
    assert tracing.provider is None
    assert tracing.interceptors() == []


async def test_no_endpoint_leaves_the_api_and_delivery_client_uninstrumented(
    monkeypatch: pytest.MonkeyPatch, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}")
    await upgrade_schema(settings.database_url)
    app = create_app(settings)
    http = httpx.AsyncClient()

    async with app.router.lifespan_context(app):
        start_tracing(settings, service_name="webhooks-worker").instrument_http_client(http)

        assert app.state.temporal.config()["interceptors"] == []
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
        assert not getattr(http, "_is_instrumented_by_opentelemetry", False)
    await http.aclose()


async def test_an_endpoint_traces_the_api_and_its_temporal_client_and_flushes_on_exit(
    monkeypatch: pytest.MonkeyPatch,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    collector: Receiver,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url("/"))
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}")
    await upgrade_schema(settings.database_url)
    app = create_app(settings)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        interceptors = app.state.temporal.config()["interceptors"]
        assert (await api.get("/health")).status_code == 200

    assert [type(each) for each in interceptors] == [TracingInterceptor]
    assert [(span.service, span.name) for span in _exported(collector)] == [
        ("webhooks-api", "GET /health")
    ]


def test_otel_service_name_names_the_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "webhooks-eu")
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        otel_exporter_otlp_endpoint="http://127.0.0.1:4318",
    )

    tracing = start_tracing(settings, service_name="webhooks-api", exporter=InMemorySpanExporter())

    assert tracing.provider is not None
    assert tracing.provider.resource.attributes["service.name"] == "webhooks-eu"
    tracing.shutdown()


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, f"{name}: {len(found)} spans"
    return found[0]


def _attributes(span: ReadableSpan) -> Mapping[str, object]:
    return span.attributes or {}


def _parent_name(span: ReadableSpan, spans: list[ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    parents = [each.name for each in spans if each.context.span_id == span.parent.span_id]
    return parents[0] if parents else "missing"


async def test_one_trace_runs_from_the_emit_to_each_post_and_names_the_event(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver
) -> None:
    settings = make_settings(database_url, otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    api_spans, worker_spans = InMemorySpanExporter(), InMemorySpanExporter()
    api_tracing = start_tracing(settings, service_name="webhooks-api", exporter=api_spans)
    worker_tracing = start_tracing(settings, service_name="webhooks-worker", exporter=worker_spans)

    async with running_stack(
        temporal_env, settings, api_tracing=api_tracing, worker_tracing=worker_tracing
    ) as stack:
        auth = await stack.account()
        for path in ("/a", "/b"):
            await stack.endpoint(auth, receiver.url(path))
        event = await stack.emit(auth, "peer.joined", example("peer.joined"))
        await stack.settled(event["id"])
    api_tracing.shutdown()
    worker_tracing.shutdown()

    everything = [*api_spans.get_finished_spans(), *worker_spans.get_finished_spans()]
    emit = _one(everything, "POST /v1/events")
    assert emit.parent is None
    trace_id = emit.context.trace_id
    spans = [span for span in everything if span.context.trace_id == trace_id]
    names = sorted(span.name for span in spans)
    assert names.count("RunActivity:deliver") == 2, names
    # The interceptor ends workflow spans as they start, so the workflow's own spans
    # (its run, the activities it starts) all hang off the span that started it.
    assert _parent_name(_one(spans, "StartWorkflow:EventWorkflow"), spans) == "POST /v1/events"
    assert _parent_name(_one(spans, "RunWorkflow:EventWorkflow"), spans) == (
        "StartWorkflow:EventWorkflow"
    )
    starts = [span for span in spans if span.name == "StartActivity:deliver"]
    runs = [span for span in spans if span.name == "RunActivity:deliver"]
    posts = [span for span in spans if span.name == "POST"]
    assert {_parent_name(span, spans) for span in starts} == {"StartWorkflow:EventWorkflow"}
    assert {run.parent.span_id for run in runs if run.parent} == {
        start.context.span_id for start in starts
    }
    assert {post.parent.span_id for post in posts if post.parent} == {
        run.context.span_id for run in runs
    }
    assert sorted(str(_attributes(post)["http.url"]) for post in posts) == [
        receiver.url("/a"),
        receiver.url("/b"),
    ]
    assert {span.resource.attributes["service.name"] for span in spans} == {
        "webhooks-api",
        "webhooks-worker",
    }
    assert [
        span.name for span in spans if _attributes(span).get(EVENT_ID_ATTRIBUTE) != event["id"]
    ] == []
    assert all(_parent_name(span, spans) != "missing" for span in spans)


@dataclass(frozen=True)
class Exported:
    service: str
    name: str
    trace_id: bytes
    attributes: dict[str, str]


def _exported(collector: Receiver) -> list[Exported]:
    """Every span the collector was sent, decoded from OTLP's protobuf."""
    spans = []
    for request in collector.received("/v1/traces"):
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans += [
                    Exported(
                        service=resource["service.name"],
                        name=span.name,
                        trace_id=span.trace_id,
                        attributes={a.key: a.value.string_value for a in span.attributes},
                    )
                    for span in scope_spans.spans
                ]
    return spans


async def test_the_api_and_worker_processes_export_their_spans_over_otlp_http(
    monkeypatch: pytest.MonkeyPatch,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    receiver: Receiver,
    collector: Receiver,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url(""))
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    service = Service(
        tmp_path,
        temporal_env.client.service_client.config.target_host,
        f"sqlite:///{tmp_path / 'webhooks.db'}",
        task_queue=f"webhooks-{uuid.uuid4()}",
    )
    try:
        service.migrate()
        await service.start_api()
        worker = service.start_worker()
        tenant = await Tenant.create(service, receiver, endpoints=2)
        emitted = await tenant.emit(1)
        [event_id] = emitted.accepted
        for path in tenant.paths:
            await receiver.wait_for(path, 1)
    finally:
        # Stopped, each process exports the spans it still holds.
        service.stop()
    assert worker.process is not None and worker.process.returncode == 0

    spans = _exported(collector)
    [emit] = [span for span in spans if span.name == "POST /v1/events"]
    assert emit.service == "webhooks-api"
    trace = [span for span in spans if span.trace_id == emit.trace_id]
    assert {
        ("webhooks-api", "StartWorkflow:EventWorkflow"),
        ("webhooks-worker", "RunWorkflow:EventWorkflow"),
        ("webhooks-worker", "RunActivity:deliver"),
    } <= {(span.service, span.name) for span in trace}
    posts = [span for span in trace if span.name == "POST"]
    assert sorted(post.attributes["http.url"] for post in posts) == sorted(
        receiver.url(path) for path in tenant.paths
    )
    assert {post.service for post in posts} == {"webhooks-worker"}
    assert [
        span.name for span in trace if span.attributes.get(EVENT_ID_ATTRIBUTE) != event_id
    ] == []
