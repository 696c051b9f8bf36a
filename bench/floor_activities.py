"""The Temporal floor's activity: scheduled, dispatched and completed, doing nothing."""

from __future__ import annotations

from temporalio import activity


@activity.defn
async def do_nothing() -> None:
    return None
