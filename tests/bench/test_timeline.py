"""The bench's timeline: an event's time split at its workflow's first task."""

from __future__ import annotations

import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from bench.driver import Emission
from bench.timeline import SPANS, sample_of, spans, timed_out_tasks, timeline
from tests.conftest import Stack
from tests.events import example
from tests.receiver import Receiver


def _history(*events: tuple[EventType.ValueType, float]) -> WorkflowHistory:
    def at(seconds: float) -> Timestamp:
        stamp = Timestamp()
        stamp.FromNanoseconds(round(seconds * 1e9))
        return stamp

    return WorkflowHistory(
        "event-msg_1",
        [HistoryEvent(event_type=kind, event_time=at(when)) for kind, when in events],
    )


def test_timeline_splits_an_event_at_its_first_workflow_task() -> None:
    history = _history(
        (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 100.012),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 100.012),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 100.017),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 100.060),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 105.0),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 105.1),
    )

    found = spans(history, emitted_at=100.0, first_receipt=100.040)

    assert found == pytest.approx(
        {
            "to_workflow_start": 0.012,
            "to_first_task": 0.005,
            "to_first_receipt": 0.023,
            "first_task": 0.043,
        }
    )


def test_timeline_of_a_workflow_not_yet_given_to_a_worker_has_only_its_start() -> None:
    history = _history((EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 100.012))

    assert spans(history, emitted_at=100.0, first_receipt=100.5) == pytest.approx(
        {"to_workflow_start": 0.012}
    )


def test_timeline_counts_workflow_tasks_that_timed_out() -> None:
    history = _history(
        (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 100.0),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 100.0),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 100.7),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, 110.7),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 110.7),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 110.7),
        (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 110.8),
    )

    assert timed_out_tasks(history) == 1
    assert timed_out_tasks(_history((EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 1.0))) == 0


def test_timeline_samples_accepted_events_across_the_whole_workload() -> None:
    emissions = [
        Emission(started=n, finished=n + 0.01, accepted=n % 10 != 0, event_id=f"e{n}", status=202)
        for n in range(1_000)
    ]

    chosen = sample_of(emissions, 100)

    assert len(chosen) == 100
    assert all(emission.accepted for emission in chosen)
    assert chosen[0].event_id == "e1" and int(chosen[-1].started) >= 980


async def test_timeline_reads_a_delivered_events_history(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    await stack.endpoint(auth, receiver.url("/timed"))
    emitted_at = time.time()
    event = await stack.emit(auth, "room.created", example("room.created"))
    await stack.settled(event["id"])
    (delivery,) = receiver.received("/timed")
    emission = Emission(
        started=emitted_at,
        finished=time.time(),
        accepted=True,
        event_id=event["id"],
        status=202,
    )

    found = await timeline(stack.client, [emission], {event["id"]: [delivery.at]})

    assert found["events"] == 1
    assert found["timed_out_tasks"] == found["events_with_timed_out_tasks"] == 0
    spans_ms = [found[span]["p50"] for span in SPANS]
    assert all(span is not None and span >= 0 for span in spans_ms)
    # The spans up to the first receipt add up to the delivery's end-to-end latency, to
    # within the three spans' rounding to 0.01 ms.
    to_receipt = sum(spans_ms[:3])
    assert to_receipt == pytest.approx((delivery.at - emitted_at) * 1000, abs=0.02)
