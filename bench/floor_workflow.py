"""The Temporal floor: one workflow per event running K activities that do nothing.

What is left of the pipeline once delivering costs nothing: Temporal's own price for a
workflow with K activities, on the same server configuration and worker settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bench.floor_activities import do_nothing


@dataclass(frozen=True)
class FloorInput:
    fanout: int


@workflow.defn
class FloorWorkflow:
    @workflow.run
    async def run(self, request: FloorInput) -> int:
        await asyncio.gather(
            *(
                workflow.execute_activity(do_nothing, start_to_close_timeout=timedelta(seconds=30))
                for _ in range(request.fanout)
            )
        )
        return request.fanout
