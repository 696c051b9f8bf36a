from __future__ import annotations

import pytest

from core.catalog import EVENT_TYPE_NAMES, EVENT_TYPES, EventType, validate_data
from tests.fresh_python import output_of


def test_catalog_has_the_seven_classroom_event_types() -> None:
    assert EVENT_TYPE_NAMES == (
        "room.created",
        "room.closed",
        "peer.joined",
        "peer.left",
        "recording.processed",
        "recording.failed",
        "whiteboard.new_file_saved",
    )


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda event_type: event_type.name)
def test_each_example_is_valid_and_each_required_field_is_enforced(event_type: EventType) -> None:
    assert validate_data(event_type.name, event_type.example) == []
    for field in event_type.schema["required"]:
        incomplete = {k: v for k, v in event_type.example.items() if k != field}
        (problem,) = validate_data(event_type.name, incomplete)
        assert (problem.path, problem.kind) == ((field,), "required")


def test_formats_are_checked() -> None:
    data = {
        "room_id": "r",
        "room_name": "n",
        "session_id": "s",
        "recording_id": "x",
        "recording_url": "not a url",
        "duration_seconds": -1,
        "processed_at": "tomorrow",
    }

    problems = sorted(
        (problem.path, problem.kind) for problem in validate_data("recording.processed", data)
    )

    assert problems == [
        (("duration_seconds",), "minimum"),
        (("processed_at",), "format"),
        (("recording_url",), "format"),
        (("recording_url",), "pattern"),
    ]


def test_unknown_fields_are_refused() -> None:
    data = EVENT_TYPES[0].example | {"colour": "blue"}

    (problem,) = validate_data(EVENT_TYPES[0].name, data)

    assert problem.kind == "additionalProperties" and "colour" in problem.message


def test_the_worker_imports_jsonschema_only_once_it_validates() -> None:
    loaded = (
        "import sys, worker\n"
        "before = 'jsonschema' in sys.modules\n"
        "from core.catalog import validate_data\n"
        "problems = validate_data('room.created', {})\n"
        "print(before, 'jsonschema' in sys.modules, bool(problems))"
    )

    assert output_of(loaded).split() == ["False", "True", "True"]
