"""The dashboard's server side: its pages, its static files and the headers they carry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from core.schema import upgrade_schema
from tests.conftest import make_settings


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # The pages never reach Temporal, whose client connects lazily.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}"
    await upgrade_schema(database_url)
    app = create_app(make_settings(database_url))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/", "webhooks.js"),
        ("/signin", "signin.js"),
        ("/deliveries", "deliveries.js"),
        ("/deliveries/msg_123", "event.js"),
    ],
)
async def test_each_page_is_html_with_its_script_and_a_strict_content_policy(
    http: httpx.AsyncClient, path: str, script: str
) -> None:
    response = await http.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'<script type="module" src="/static/{script}">' in response.text
    assert "<main" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"


async def test_the_event_id_in_the_address_is_escaped_in_the_page(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get('/deliveries/"><img src=x onerror=alert(1)>')

    assert response.status_code == 200
    assert "<img" not in response.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in response.text


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("dashboard.css", "text/css"), ("webhooks.js", "text/javascript")],
)
async def test_static_files_are_served_with_their_type(
    http: httpx.AsyncClient, name: str, media_type: str
) -> None:
    response = await http.get(f"/static/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/static/..%2Fmain.py",
        "/static/..%2F..%2Fpyproject.toml",
        "/static/%2E%2E",
        "/static/missing.js",
        "/static/.hidden.js",
        "/static/dashboard.css.bak",
    ],
)
async def test_nothing_but_the_static_files_is_served_from_static(
    http: httpx.AsyncClient, path: str
) -> None:
    assert (await http.get(path)).status_code == 404
