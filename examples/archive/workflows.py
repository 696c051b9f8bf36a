"""A workflow chained off deliveries: archive each processed recording once delivered."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.contracts import DeliveryReport
    from examples.archive.activities import ArchiveActivities

TASK_QUEUE = "recordings-archive"


@workflow.defn(name="ArchiveRecording")
class ArchiveRecordingWorkflow:
    @workflow.run
    async def run(self, report: DeliveryReport) -> str:
        await workflow.execute_activity_method(
            ArchiveActivities.archive_recording,
            report,
            start_to_close_timeout=timedelta(seconds=30),
        )
        return f"archived {report.event_id}"
