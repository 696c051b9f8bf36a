"""The archive's one activity: append a record of a processed recording to a file."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio import activity

from core.contracts import DeliveryReport


class ArchiveActivities:
    def __init__(self, archive: Path) -> None:
        self._archive = archive

    @activity.defn
    async def archive_recording(self, report: DeliveryReport) -> None:
        """One JSON line per delivered recording, with the delivery that announced it."""
        record = {
            "event_id": report.event_id,
            "endpoint_id": report.endpoint_id,
            "endpoint_url": report.endpoint_url,
            "attempts": report.attempts,
        }
        self._archive.parent.mkdir(parents=True, exist_ok=True)
        with self._archive.open("a", encoding="utf-8") as archive:
            archive.write(json.dumps(record) + "\n")
