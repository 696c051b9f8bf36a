"""Where an event's time goes until its first delivery, read from its workflow's history.

Every clock here is the same machine's wall clock: the driver's emit start, the times
Temporal records in the history, and the receiver's arrival times. For a sample of a
workload's events the emit-to-receipt time is split into:

- ``to_workflow_start``: the API's work before its start call, and the call until Temporal
  records the start;
- ``to_first_task``: Temporal's dispatch, until a worker takes the first workflow task
  (in a burst, mostly the wait for a free workflow task slot);
- ``to_first_receipt``: the worker's part, until the receiver has the first delivery
  (lookup, then the first attempts);
- ``first_task``: the whole first workflow task, until its last first attempt is stored.

Every accepted event's history is also read for workflow tasks that timed out: a task
recorded as started that no worker received, or that a worker died with, waits out its
timeout (10 s by default), and its event waits with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.driver import Emission
from bench.stats import latency_summary_ms
from core.contracts import event_workflow_id

SAMPLE = 100
SPANS = ("to_workflow_start", "to_first_task", "to_first_receipt", "first_task")
_AT_ONCE = 8


def spans(history: WorkflowHistory, *, emitted_at: float, first_receipt: float) -> dict[str, float]:
    """The event's spans in seconds; a span whose history event is missing is left out."""
    times: dict[int, float] = {}
    for event in history.events:
        # The first of each kind: the first workflow task is the one that delivers.
        times.setdefault(event.event_type, event.event_time.ToNanoseconds() / 1e9)
    started = times.get(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    task_started = times.get(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    task_completed = times.get(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    found: dict[str, float] = {}
    if started is not None:
        found["to_workflow_start"] = started - emitted_at
        if task_started is not None:
            found["to_first_task"] = task_started - started
    if task_started is not None:
        found["to_first_receipt"] = first_receipt - task_started
        if task_completed is not None:
            found["first_task"] = task_completed - task_started
    return found


def timed_out_tasks(history: WorkflowHistory) -> int:
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for event in history.events
    )


def sample_of(emissions: Sequence[Emission], size: int) -> list[Emission]:
    """Up to ``size`` accepted emissions, evenly spread over the workload."""
    accepted = [emission for emission in emissions if emission.accepted and emission.event_id]
    step = max(1, len(accepted) / size) if accepted else 1
    return [accepted[int(index * step)] for index in range(min(size, len(accepted)))]


async def timeline(
    client: Client,
    emissions: Sequence[Emission],
    receipts: dict[str, list[float]],
    *,
    size: int = SAMPLE,
) -> dict[str, Any]:
    """Each span's summary in milliseconds over a sample of the delivered events, and the
    workflow tasks that timed out among all the accepted ones."""
    sampled = {
        e.event_id for e in sample_of(emissions, size) if e.event_id and receipts.get(e.event_id)
    }
    slots = asyncio.Semaphore(_AT_ONCE)

    async def of(emission: Emission) -> tuple[dict[str, float] | None, int]:
        assert emission.event_id is not None
        async with slots:
            handle = client.get_workflow_handle(event_workflow_id(emission.event_id))
            history = await handle.fetch_history()
        found = None
        if emission.event_id in sampled:
            first_receipt = min(receipts[emission.event_id])
            found = spans(history, emitted_at=emission.started, first_receipt=first_receipt)
        return found, timed_out_tasks(history)

    read = await asyncio.gather(
        *(of(emission) for emission in emissions if emission.accepted and emission.event_id)
    )
    measured = [found for found, _ in read if found is not None]
    return {
        "events": len(measured),
        "timed_out_tasks": sum(timeouts for _, timeouts in read),
        "events_with_timed_out_tasks": sum(timeouts > 0 for _, timeouts in read),
        **{
            span: latency_summary_ms([found[span] for found in measured if span in found])
            for span in SPANS
        },
    }
