"""What a subscriber lookup read, handed to the event's first delivery attempts.

The lookup and an event's first attempts run one after the other as local activities of
the same workflow task, so in the same worker process, milliseconds apart. Handing the
rows over saves each first attempt a store read; a retry, or an attempt that finds nothing
here (another worker, or too late), reads the store as usual. Rows that were read an
instant before the attempt are what a read at the start of the attempt would have seen
an instant later: an endpoint changed in between is a race either way.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from core.models import Endpoint, Event

# A first attempt runs right after its lookup; anything older is read again.
MAX_AGE_SECONDS = 30.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    event: Event
    endpoint: Endpoint
    stored_at: float


class LookupHandoff:
    """Rows of an event and its endpoints, each taken at most once by its delivery."""

    def __init__(
        self, *, max_age_seconds: float = MAX_AGE_SECONDS, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._max_age = max_age_seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def put(self, event: Event, endpoints: list[Endpoint]) -> None:
        now = time.monotonic()
        for endpoint in endpoints:
            self._entries[(event.id, endpoint.id)] = _Entry(event, endpoint, now)
        self._forget_stale(now)

    def take(self, event_id: str, endpoint_id: str) -> tuple[Event, Endpoint] | None:
        entry = self._entries.pop((event_id, endpoint_id), None)
        if entry is None or time.monotonic() - entry.stored_at > self._max_age:
            return None
        return entry.event, entry.endpoint

    def __len__(self) -> int:
        return len(self._entries)

    def _forget_stale(self, now: float) -> None:
        # Oldest first: stop at the first entry young enough to keep.
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if len(self._entries) <= self._max_entries and now - entry.stored_at <= self._max_age:
                return
            del self._entries[key]
