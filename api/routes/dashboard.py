"""The customer dashboard: server-rendered pages that call the JSON API from the browser."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
