"""Tracing, when a collector is configured: one trace for each emitted event.

An event's trace runs from the request that emitted it through the start of its workflow,
the workflow's run and each delivery activity to every HTTP POST of an attempt. Temporal
carries the trace context in its headers (``TracingInterceptor``), together with W3C
baggage naming the event; a span processor copies the event id from that baggage onto
every span the API and the worker start, so the whole trace can be found by event id.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; spans then go to
``<endpoint>/v1/traces`` over OTLP/HTTP (protobuf).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import baggage, context, trace

from core.config import Settings

# The SDK, the exporter, the instrumentations and Temporal's interceptor (which brings the
# SDK too) are imported only when tracing is on: they cost a process that does not trace
# tens of megabytes.
if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

EVENT_ID_ATTRIBUTE = "webhook.event_id"


class Tracing:
    """The process's tracer provider and what it instruments; inert when tracing is off."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider

    def interceptors(self) -> list[TracingInterceptor]:
        """For ``Client.connect``; workers built on that client trace through them too."""
        if self.provider is None:
            return []
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.provider.get_tracer("temporalio"))]

    def instrument_app(self, app: FastAPI) -> None:
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # The request's own span is the one that matters; one per ASGI message is noise.
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, exclude_spans=["receive", "send"]
        )
        # A server builds the middleware stack before the lifespan runs; rebuilt now, the
        # requests to come pass through the instrumented one.
        app.middleware_stack = app.build_middleware_stack()

    def instrument_http_client(self, client: httpx.AsyncClient) -> None:
        if self.provider is not None:
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    def shutdown(self) -> None:
        """Export the spans still buffered, then stop."""
        if self.provider is not None:
            self.provider.shutdown()


def start_tracing(
    settings: Settings, *, service_name: str, exporter: SpanExporter | None = None
) -> Tracing:
    """The process's tracing: off without an OTLP endpoint; ``exporter`` replaces the OTLP
    exporter, as a transport replaces the network for an HTTP client."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return Tracing()
    from opentelemetry import propagate
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.processor.baggage import BaggageSpanProcessor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name or service_name})
    )
    provider.add_span_processor(BaggageSpanProcessor(lambda key: key == EVENT_ID_ATTRIBUTE))
    provider.add_span_processor(
        BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=traces_endpoint(endpoint)))
    )
    # Baggage stays inside the service: it travels in Temporal's headers through the
    # interceptor's own propagator, while HTTP takes and passes on the trace context only,
    # so a caller cannot name events on our spans and receivers are sent no baggage.
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    return Tracing(provider)


def traces_endpoint(endpoint: str) -> str:
    """Where OTLP/HTTP takes spans, from the base URL ``OTEL_EXPORTER_OTLP_ENDPOINT`` names."""
    return f"{endpoint.rstrip('/')}/v1/traces"


@contextmanager
def traced_event(event_id: str) -> Iterator[None]:
    """Name the event on the current span and on every span started within the block,
    in this process and, through Temporal's headers, in the worker."""
    trace.get_current_span().set_attribute(EVENT_ID_ATTRIBUTE, event_id)
    token = context.attach(baggage.set_baggage(EVENT_ID_ATTRIBUTE, event_id))
    try:
        yield
    finally:
        context.detach(token)
