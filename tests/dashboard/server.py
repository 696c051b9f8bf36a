"""The API served over real HTTP on 127.0.0.1, with a worker, for a browser to drive."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from temporalio.client import Client

from api.main import create_app
from core import store
from core.retry import load_retry_policies
from core.schema import upgrade_schema
from tests.conftest import Stack, make_settings
from worker import build_worker, delivery_client


@dataclass
class Dashboard:
    """Where the browser goes (``url``) and a ``stack`` whose client calls the same server."""

    url: str
    stack: Stack

    async def account(self, name: str = "Acme School") -> str:
        """A new account's API key."""
        auth = await self.stack.account(name)
        return auth["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def serve(server: uvicorn.Server) -> AsyncIterator[str]:
    """Run ``server`` on a free port of 127.0.0.1 in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the dashboard server stopped while starting")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def running_dashboard(temporal: Client, database_url: str) -> AsyncIterator[Dashboard]:
    settings = make_settings(database_url)
    await upgrade_schema(settings.database_url)
    engine = store.create_engine(settings.database_url)
    writer_engine = store.create_sync_engine(settings.database_url)
    sessions = store.session_factory(engine)
    app = create_app(settings, temporal=temporal)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    try:
        async with (
            delivery_client(settings) as http,
            build_worker(
                temporal,
                settings=settings,
                sessions=sessions,
                writer_engine=writer_engine,
                http=http,
                policies=load_retry_policies(settings.retry_policies_file),
            ),
            serve(server) as url,
            httpx.AsyncClient(base_url=url) as api,
        ):
            stack = Stack(api=api, client=temporal, settings=settings, sessions=sessions)
            yield Dashboard(url=url, stack=stack)
    finally:
        await engine.dispose()
        writer_engine.dispose()
