"""The event catalog: every event type Teachstack emits and the JSON Schema of its ``data``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

JsonSchema = dict[str, Any]

_TIMESTAMP: JsonSchema = {"type": "string", "format": "date-time"}
_IDENTIFIER: JsonSchema = {"type": "string", "minLength": 1, "maxLength": 128}
_NAME: JsonSchema = {"type": "string", "minLength": 1, "maxLength": 256}
_URL: JsonSchema = {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2048}
_SECONDS: JsonSchema = {"type": "number", "minimum": 0}
_ROLE: JsonSchema = {"type": "string", "enum": ["teacher", "assistant", "student", "guest"]}


def _object(
    required: dict[str, JsonSchema], optional: dict[str, JsonSchema] | None = None
) -> JsonSchema:
    return {
        "type": "object",
        "properties": required | (optional or {}),
        "required": list(required),
        "additionalProperties": False,
    }


_ROOM = {"room_id": _IDENTIFIER, "room_name": _NAME, "session_id": _IDENTIFIER}
_PEER = {"peer_id": _IDENTIFIER, "user_id": _IDENTIFIER, "user_name": _NAME, "role": _ROLE}


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    description: str
    schema: JsonSchema
    example: dict[str, Any]


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        name="room.created",
        description="A teacher started a class: the room is open and its session has begun.",
        schema=_object(
            _ROOM | {"started_at": _TIMESTAMP},
            {"host": _object(_PEER), "scheduled_end_at": _TIMESTAMP},
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "started_at": "2026-11-27T09:00:00Z",
        },
    ),
    EventType(
        name="room.closed",
        description="A class ended: the room closed and its session is over.",
        schema=_object(
            _ROOM | {"started_at": _TIMESTAMP, "ended_at": _TIMESTAMP},
            {
                "duration_seconds": _SECONDS,
                "peer_count": {"type": "integer", "minimum": 0},
                "closed_by": {"type": "string", "enum": ["host", "timeout", "system"]},
            },
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "started_at": "2026-11-27T09:00:00Z",
            "ended_at": "2026-11-27T09:55:00Z",
            "duration_seconds": 3300,
        },
    ),
    EventType(
        name="peer.joined",
        description="A participant (teacher, assistant, student or guest) joined a class.",
        schema=_object(
            _ROOM | _PEER | {"joined_at": _TIMESTAMP},
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "peer_id": "peer_77aa",
            "user_id": "user_1203",
            "user_name": "Ada Lovelace",
            "role": "student",
            "joined_at": "2026-11-27T09:01:12Z",
        },
    ),
    EventType(
        name="peer.left",
        description="A participant left a class, by choice, by removal or by losing connection.",
        schema=_object(
            _ROOM | _PEER | {"left_at": _TIMESTAMP},
            {
                "joined_at": _TIMESTAMP,
                "duration_seconds": _SECONDS,
                "reason": {"type": "string", "enum": ["left", "removed", "disconnected"]},
            },
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "peer_id": "peer_77aa",
            "user_id": "user_1203",
            "user_name": "Ada Lovelace",
            "role": "student",
            "left_at": "2026-11-27T09:50:40Z",
            "reason": "left",
        },
    ),
    EventType(
        name="recording.processed",
        description="A class recording finished processing and can be downloaded.",
        schema=_object(
            _ROOM
            | {
                "recording_id": _IDENTIFIER,
                "recording_url": _URL,
                "duration_seconds": _SECONDS,
                "processed_at": _TIMESTAMP,
            },
            {
                "size_bytes": {"type": "integer", "minimum": 0},
                "format": {"type": "string", "enum": ["mp4", "webm", "m4a"]},
                "started_at": _TIMESTAMP,
                "ended_at": _TIMESTAMP,
            },
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "recording_id": "rec_5c1e",
            "recording_url": "https://recordings.teachstack.example/rec_5c1e.mp4",
            "duration_seconds": 3280.5,
            "processed_at": "2026-11-27T10:05:00Z",
        },
    ),
    EventType(
        name="recording.failed",
        description="A class recording could not be produced; the reason says why.",
        schema=_object(
            _ROOM
            | {
                "recording_id": _IDENTIFIER,
                "failure_reason": {"type": "string", "minLength": 1, "maxLength": 1024},
                "failed_at": _TIMESTAMP,
            },
            {"error_code": _IDENTIFIER},
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "recording_id": "rec_5c1e",
            "failure_reason": "No media was captured during the session.",
            "failed_at": "2026-11-27T10:02:00Z",
        },
    ),
    EventType(
        name="whiteboard.new_file_saved",
        description="A whiteboard from a class was saved as a file.",
        schema=_object(
            _ROOM
            | {
                "file_id": _IDENTIFIER,
                "file_name": _NAME,
                "file_url": _URL,
                "saved_at": _TIMESTAMP,
            },
            {
                "saved_by": _object(_PEER),
                "size_bytes": {"type": "integer", "minimum": 0},
                "content_type": {"type": "string", "maxLength": 128},
            },
        ),
        example={
            "room_id": "room_8f2k",
            "room_name": "Algebra 101",
            "session_id": "sess_41d9",
            "file_id": "file_9b0d",
            "file_name": "algebra-101-board-1.pdf",
            "file_url": "https://files.teachstack.example/file_9b0d.pdf",
            "saved_at": "2026-11-27T09:40:00Z",
        },
    ),
)

# Sent only by "send a test event"; no endpoint subscribes to it.
TEST_EVENT_TYPE = "webhook.test"

_DELIVERY = {
    "event_id": _IDENTIFIER,
    "event_type": _IDENTIFIER,
    "endpoint_id": _IDENTIFIER,
    "endpoint_url": _URL,
    "attempts": {"type": "integer", "minimum": 0},
}

# Events about the deliveries themselves, emitted by automations (automations.toml) and
# delivered like any other to the endpoints that subscribe to them. Services cannot emit
# them through the API.
OPERATIONAL_EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        name="webhook.endpoint.disabled",
        description="An endpoint was disabled: it answered 410 Gone or kept failing.",
        schema=_object(
            {"endpoint_id": _IDENTIFIER, "endpoint_url": _URL, "reason": _NAME},
            {"event_id": _IDENTIFIER},
        ),
        example={
            "endpoint_id": "ep_01",
            "endpoint_url": "https://lms.example/hooks",
            "reason": "no successful delivery since 2026-11-22T09:00:00+00:00",
        },
    ),
    EventType(
        name="webhook.message.attempt.exhausted",
        description="Every attempt to deliver an event to an endpoint failed; none is left.",
        schema=_object(_DELIVERY, {"last_status_code": {"type": ["integer", "null"]}}),
        example={
            "event_id": "msg_01",
            "event_type": "room.closed",
            "endpoint_id": "ep_01",
            "endpoint_url": "https://lms.example/hooks",
            "attempts": 10,
            "last_status_code": 500,
        },
    ),
    EventType(
        name="webhook.message.attempt.recovered",
        description="An endpoint that had been failing received an event again.",
        schema=_object(_DELIVERY),
        example={
            "event_id": "msg_02",
            "event_type": "room.created",
            "endpoint_id": "ep_01",
            "endpoint_url": "https://lms.example/hooks",
            "attempts": 1,
        },
    ),
)

EVENT_TYPE_NAMES: tuple[str, ...] = tuple(event_type.name for event_type in EVENT_TYPES)
OPERATIONAL_EVENT_TYPE_NAMES: tuple[str, ...] = tuple(t.name for t in OPERATIONAL_EVENT_TYPES)
SUBSCRIBABLE_EVENT_TYPE_NAMES = EVENT_TYPE_NAMES + OPERATIONAL_EVENT_TYPE_NAMES
_BY_NAME = {event_type.name: event_type for event_type in EVENT_TYPES}
_OPERATIONAL_BY_NAME = {event_type.name: event_type for event_type in OPERATIONAL_EVENT_TYPES}


def find_event_type(name: str) -> EventType | None:
    return _BY_NAME.get(name)


@dataclass(frozen=True, slots=True)
class DataError:
    """One way an event's ``data`` fails its schema, located by its path inside ``data``."""

    path: tuple[str | int, ...]
    message: str
    kind: str


_MISSING_PROPERTY = re.compile(r"^'(.+)' is a required property$")


@cache
def _validator(name: str) -> Draft202012Validator:
    # Imported on first use: jsonschema and its format checkers add about 2 MiB to the
    # worker, which validates only the rare operational event.
    from jsonschema import Draft202012Validator, FormatChecker

    schema = (_BY_NAME.get(name) or _OPERATIONAL_BY_NAME[name]).schema
    return Draft202012Validator(schema, format_checker=FormatChecker())


def prepare_validators() -> None:
    """Build every type's validator now, so that the API's first emit does not wait for it."""
    for name in _BY_NAME.keys() | _OPERATIONAL_BY_NAME.keys():
        _validator(name)


def validate_data(event_type: str, data: Any) -> list[DataError]:
    """Every violation of the type's schema, ordered by location; empty when ``data`` is valid."""
    found = []
    for error in _validator(event_type).iter_errors(data):
        path: tuple[str | int, ...] = tuple(error.path)
        # A missing property is reported on its parent object; point at the property itself.
        if error.validator == "required" and (missing := _MISSING_PROPERTY.match(error.message)):
            path += (missing.group(1),)
        found.append(DataError(path, error.message, str(error.validator)))
    return sorted(found, key=lambda error: [str(part) for part in error.path])
