"""How the command line words an event without deliveries."""

from __future__ import annotations

import pytest
from rich.console import Console

from cli.output import delivery_summary, event_view, events_table
from tests.events import example


def _rendered(renderable: object) -> str:
    console = Console(width=200, no_color=True)
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


@pytest.mark.parametrize(
    ("resolved", "said"),
    [(False, "waiting for a worker"), (True, "no endpoint subscribed")],
)
def test_an_event_without_deliveries_says_whether_it_waits_or_went_nowhere(
    resolved: bool, said: str
) -> None:
    event = {
        "id": "msg_1",
        "type": "room.closed",
        "data": example("room.closed"),
        "created_at": "2026-12-07T09:00:00Z",
        "endpoints_resolved": resolved,
        "deliveries": [],
    }

    assert delivery_summary(event).plain == said
    assert said in _rendered(events_table([event]))
    assert said in _rendered(event_view(event, attempts=[]))
