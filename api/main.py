"""The HTTP API: accounts, endpoints, the event catalog, emitting and inspecting events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.routes import accounts, dashboard, endpoints, event_types, events, health, metrics
from api.startup import PlainStartupRefusal
from core import store
from core.catalog import prepare_validators
from core.config import Settings, get_settings
from core.intake import EventIntake
from core.retry import load_retry_policies
from core.schema import SchemaError, require_current_schema
from core.tracing import Tracing, start_tracing


def create_app(
    settings: Settings | None = None,
    *,
    temporal: Client | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """The application; settings, tracing and the Temporal client are resolved when it
    starts. A Temporal client passed in brings its own tracing interceptors."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        logging.basicConfig(level=resolved.log_level)
        app.state.settings = resolved
        app.state.policies = load_retry_policies(resolved.retry_policies_file)
        prepare_validators()
        engine = store.create_engine(resolved.database_url)
        try:
            await require_current_schema(engine)
        except SchemaError:
            await engine.dispose()
            raise
        app.state.sessions = store.session_factory(engine)
        app.state.intake = EventIntake(resolved.database_url)
        traced = tracing or start_tracing(resolved, service_name="webhooks-api")
        traced.instrument_app(app)
        # Lazy: the API starts and answers while Temporal is down; emits then get a 503.
        app.state.temporal = temporal or await Client.connect(
            **resolved.temporal_connect_config(), interceptors=traced.interceptors(), lazy=True
        )
        yield
        app.state.intake.close()
        await engine.dispose()
        if tracing is None:
            traced.shutdown()

    app = FastAPI(
        title="Teachstack Webhooks",
        version="0.1.0",
        description="Durable, signed webhook delivery for Teachstack classroom events.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(PlainStartupRefusal)
    for module in (accounts, endpoints, event_types, events, dashboard, health, metrics):
        app.include_router(module.router)

    return app


app = create_app()
