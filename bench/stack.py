"""The systems under test, started the way ``make run`` starts them, on free ports.

``start_pipeline`` mirrors devstack's start order (Temporal, search attributes, the worker,
the API), so a step such as a store migration goes in that one place. The floor gets a
fresh dev server with the same flags and a bench-only worker.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

import devstack
from bench.processes import (
    HOST,
    spawn,
    wait_for_http,
    wait_for_temporal,
    wait_until,
)
from core.config import PROJECT_ROOT
from core.search_attributes import register_search_attributes

logger = logging.getLogger(__name__)

TEMPORAL_START_ATTEMPTS = 3
BENCH_RETRY_POLICIES = PROJECT_ROOT / "bench" / "retry_policies.toml"
# High enough that the emit rate limiter never answers 429: it is not what is measured.
UNLIMITED_EMIT_RATE = "1000000"


@dataclass
class Temporal:
    child: devstack.Child
    address: str
    ui_port: int
    log: Path


@dataclass
class Stack:
    """Running processes, Temporal first: ``stop_stack`` stops it last, as devstack does."""

    temporal: Temporal
    workers: list[devstack.Child] = field(default_factory=list)
    api: devstack.Child | None = None
    api_url: str = ""
    task_queue: str = "webhooks"

    @property
    def children(self) -> list[devstack.Child]:
        rest = [self.api] if self.api is not None else []
        return [self.temporal.child, *self.workers, *rest]

    def roles(self) -> dict[str, list[int]]:
        roles = {
            "temporal": [self.temporal.child.process.pid],
            "worker": [worker.process.pid for worker in self.workers],
        }
        if self.api is not None:
            roles["api"] = [self.api.process.pid]
        return roles


def service_environment(
    workdir: Path,
    temporal: Temporal,
    *,
    admin_token: str,
    task_queue: str,
    database_url: str | None = None,
) -> dict[str, str]:
    """What ``make run`` gives the worker and the API, pointed at the bench's server and
    store: SQLite in ``workdir`` unless ``database_url`` names another."""
    env = devstack.child_environment()
    env.update(
        {
            "TEMPORAL_ADDRESS": temporal.address,
            "TEMPORAL_NAMESPACE": "default",
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'webhooks.db'}",
            "WEBHOOKS_ENVIRONMENT": "development",
            "WEBHOOKS_ADMIN_TOKEN": admin_token,
            "WEBHOOKS_TASK_QUEUE": task_queue,
            "WEBHOOKS_RETRY_POLICIES_FILE": str(BENCH_RETRY_POLICIES),
            "WEBHOOKS_EMIT_RATE_PER_SECOND": UNLIMITED_EMIT_RATE,
            "WEBHOOKS_EMIT_BURST": UNLIMITED_EMIT_RATE,
            "WEBHOOKS_TEMPORAL_UI_URL": f"http://{HOST}:{temporal.ui_port}",
            "WEBHOOKS_LOG_LEVEL": "WARNING",
        }
    )
    return env


def metrics_ports() -> dict[str, str]:
    """Free metrics ports for one worker process, so several never contend for one."""
    return {
        "WEBHOOKS_WORKER_METRICS_PORT": str(devstack.free_port()),
        "WEBHOOKS_TEMPORAL_METRICS_PORT": str(devstack.free_port()),
    }


async def start_temporal(workdir: Path, name: str) -> Temporal:
    """A dev server with ``make run``'s flags, its SQLite file in ``workdir``.

    Its ports are found free a moment before the server binds them, and another process
    may take one in between: a server that exits as it starts is started again on others.
    """
    log = workdir / f"{name}.log"
    attempts_left = TEMPORAL_START_ATTEMPTS
    while True:
        attempts_left -= 1
        port, ui_port = devstack.free_port(), devstack.free_port()
        command = devstack.temporal_command(
            devstack.temporal_binary(), db_path=workdir / f"{name}.db", port=port, ui_port=ui_port
        )
        child = await spawn("Temporal", command, env=devstack.child_environment(), log=log)
        temporal = Temporal(child=child, address=f"{HOST}:{port}", ui_port=ui_port, log=log)
        try:
            await wait_for_temporal(child, temporal.address, log)
        except devstack.StackError:
            exited = child.process.returncode is not None
            await devstack.stop_child(child)
            if not exited or not attempts_left:
                raise
            logger.warning("Temporal exited as it started; starting it on other ports")
        except BaseException:
            await devstack.stop_child(child)
            raise
        else:
            return temporal


async def wait_for_pollers(
    address: str, task_queue: str, count: int, watched: Sequence[devstack.Child]
) -> None:
    """Until ``count`` distinct workers poll the task queue for activities."""
    client = await Client.connect(address)

    async def polling() -> bool:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        return len({poller.identity for poller in answer.pollers}) >= count

    await wait_until(f"{count} worker(s) on {task_queue!r}", polling, watched)


async def start_pipeline(
    workdir: Path,
    *,
    workers: int,
    admin_token: str,
    task_queue: str = "webhooks",
    database_url: str | None = None,
) -> Stack:
    """Temporal, its search attributes, ``workers`` worker processes and the API."""
    temporal = await start_temporal(workdir, "temporal")
    stack = Stack(temporal=temporal, task_queue=task_queue)
    try:
        await register_search_attributes(await Client.connect(temporal.address))
        env = service_environment(
            workdir,
            temporal,
            admin_token=admin_token,
            task_queue=task_queue,
            database_url=database_url,
        )
        await migrate(env, workdir / "migrate.log")
        for number in range(workers):
            stack.workers.append(
                await spawn(
                    f"worker {number + 1}",
                    devstack.worker_command(),
                    env=env | metrics_ports(),
                    log=workdir / f"worker-{number + 1}.log",
                )
            )
        port = devstack.free_port()
        api_log = workdir / "api.log"
        stack.api = await spawn("the API", devstack.api_command(port), env=env, log=api_log)
        stack.api_url = f"http://{HOST}:{port}"
        await wait_for_http(stack.api, f"{stack.api_url}/health", api_log)
        await wait_for_pollers(temporal.address, task_queue, workers, stack.children)
    except BaseException:
        await stop_stack(stack)
        raise
    return stack


async def migrate(env: dict[str, str], log: Path) -> None:
    """``webhooks db upgrade`` on the bench's store, as ``make run`` runs it first."""
    with log.open("wb") as output:
        migration = await asyncio.create_subprocess_exec(
            *devstack.migrate_command(), cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output
        )
        if await asyncio.wait_for(migration.wait(), timeout=120) != 0:
            raise RuntimeError(f"the store's migration failed; see {log}")


def floor_worker_command() -> list[str]:
    return [sys.executable, "-m", "bench.floor_worker"]


async def start_floor(
    workdir: Path, *, workers: int, admin_token: str, task_queue: str = "webhooks"
) -> Stack:
    """A fresh dev server with the same flags and as many floor worker processes as the
    pipeline has workers."""
    temporal = await start_temporal(workdir, "temporal-floor")
    stack = Stack(temporal=temporal, task_queue=task_queue)
    try:
        # The floor starts its workflows with the search attributes events carry.
        await register_search_attributes(await Client.connect(temporal.address))
        env = service_environment(workdir, temporal, admin_token=admin_token, task_queue=task_queue)
        for number in range(workers):
            stack.workers.append(
                await spawn(
                    f"floor worker {number + 1}",
                    floor_worker_command(),
                    env=env,
                    log=workdir / f"floor-worker-{number + 1}.log",
                )
            )
        await wait_for_pollers(temporal.address, task_queue, workers, stack.children)
    except BaseException:
        await stop_stack(stack)
        raise
    return stack


async def stop_stack(stack: Stack) -> None:
    """Everything but Temporal first, then Temporal, which they still talk to."""
    await devstack.stop_children(stack.children)
