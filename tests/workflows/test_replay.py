"""Saved histories must replay against today's workflow code: changes stay deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.event import EventWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert HISTORIES


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_saved_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(f"event-{path.stem}", path.read_text())

    result = await Replayer(workflows=[EventWorkflow]).replay_workflow(history)

    assert result.replay_failure is None
