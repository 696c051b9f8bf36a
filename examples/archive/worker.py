"""Runs the archive workflow beside the service: `python -m examples.archive.worker`.

Connects like the service does (TEMPORAL_ADDRESS and the rest, through
temporalio.envconfig) and writes to .data/recordings-archive.jsonl unless ARCHIVE_FILE
says otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from core.config import PROJECT_ROOT, get_settings
from examples.archive.activities import ArchiveActivities
from examples.archive.workflows import TASK_QUEUE, ArchiveRecordingWorkflow


def build_archive_worker(client: Client, archive: Path) -> Worker:
    activities = ArchiveActivities(archive)
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[ArchiveRecordingWorkflow],
        activities=[activities.archive_recording],
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    archive = Path(os.environ.get("ARCHIVE_FILE", PROJECT_ROOT / ".data/recordings-archive.jsonl"))
    client = await Client.connect(**get_settings().temporal_connect_config())
    logging.getLogger(__name__).info("archiving to %s", archive)
    await build_archive_worker(client, archive).run()


if __name__ == "__main__":
    asyncio.run(main())
