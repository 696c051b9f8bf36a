"""The customer dashboard: server-rendered pages that call the JSON API from the browser.

The pages hold no account data: the browser keeps the API key in ``sessionStorage`` and
its scripts call ``/v1/...`` like any other client. The server only renders the layout
and serves the scripts and the style sheet.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)

router = APIRouter(include_in_schema=False)

# Static files are flat: a plain name with one of these suffixes, nothing else.
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|svg)$")
_MEDIA_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}

# The scripts come from /static and talk to this origin only.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _page(
    request: Request, template: str, *, title: str, active: str, **context: object
) -> Response:
    response = templates.TemplateResponse(
        request, template, {"title": title, "active": active, **context}
    )
    response.headers.update(_SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=HTMLResponse)
async def webhooks_page(request: Request) -> Response:
    return _page(request, "webhooks.html", title="Webhooks", active="webhooks")


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> Response:
    return _page(request, "signin.html", title="Sign in", active="signin")


@router.get("/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request) -> Response:
    return _page(request, "deliveries.html", title="Deliveries", active="deliveries")


@router.get("/deliveries/{event_id}", response_class=HTMLResponse)
async def event_page(request: Request, event_id: str) -> Response:
    return _page(request, "event.html", title="Event", active="deliveries", event_id=event_id)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    match = _STATIC_NAME.match(name)
    path = STATIC_DIR / name
    if match is None or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES[match.group(1)],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
