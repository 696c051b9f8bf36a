"""Valid payloads for each event type, as the catalog's examples."""

from __future__ import annotations

from typing import Any

from core.catalog import find_event_type


def example(event_type: str, **overrides: Any) -> dict[str, Any]:
    found = find_event_type(event_type)
    assert found is not None
    return found.example | overrides
