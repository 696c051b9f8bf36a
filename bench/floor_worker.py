"""The floor's worker process: the no-op workflow under the real worker's settings.

    python -m bench.floor_worker

Task queue, connection, maximum concurrent activities and shutdown grace come from the
same ``Settings`` and helpers as ``worker.py``.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from temporalio.worker import Worker

from bench.floor_activities import do_nothing
from bench.floor_workflow import FloorWorkflow
from core.config import get_settings
from worker import attempt_timeout, connect_when_reachable

logger = logging.getLogger("bench.floor_worker")


async def main() -> None:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    client = await connect_when_reachable(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[FloorWorkflow],
        activities=[do_nothing],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        graceful_shutdown_timeout=attempt_timeout(settings),
    )
    async with worker:
        logger.info("floor worker polling task queue %r", settings.task_queue)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
